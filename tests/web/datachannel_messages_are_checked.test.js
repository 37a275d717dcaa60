// web/call/messages.js checks every data-channel message of docs/datachannel.md
// (version 1) on arrival: malformed, oversized, unknown, ill-typed or too frequent
// ones are dropped and counted; pointer moves are paced to 30 a second on sending.
// Run: node --test tests/web/

import test from 'node:test';
import assert from 'node:assert/strict';

import { Inbox, MAX_MESSAGE, POINTER_RATE, PointerPacer, check } from '../../web/call/messages.js';

const j = (m) => JSON.stringify({ v: 1, ...m });

test('each message of version 1 is taken from its sender', () => {
  for (const [m, from] of [
    [{ type: 'quality', max: '1080p' }, 'agent'],
    [{ type: 'pointer', x: 0, y: 1 }, 'agent'],
    [{ type: 'pointer.click', x: 0.5, y: 0.25 }, 'agent'],
    [{ type: 'pointer.hide' }, 'agent'],
    [{ type: 'still.request', id: 'a1' }, 'agent'],
    [{ type: 'still.done', id: 'a1', file: 'F1', method: 'image-capture', width: 1920, height: 1080 }, 'client'],
    [{ type: 'still.failed', id: 'a1', reason: 'no-camera' }, 'client'],
    [{ type: 'geo.request', id: 'g' }, 'agent'],
    [{ type: 'geo.refused', id: 'g', reason: 'denied' }, 'client'],
  ]) {
    const c = check(j(m), from);
    assert.ok(c.ok, JSON.stringify(m));
  }
});

test('what does not check is dropped with its reason', () => {
  const cases = [
    ['not json', 'malformed'],
    [JSON.stringify([1, 2]), 'malformed'],
    [JSON.stringify({ v: 1 }), 'malformed'],
    [JSON.stringify({ v: 2, type: 'pointer', x: 0, y: 0 }), 'unknown'],
    [j({ type: 'teleport' }), 'unknown'],
    [j({ type: '__proto__' }), 'unknown'],
    [j({ type: 'pointer', x: 1.5, y: 0 }), 'invalid'],
    [j({ type: 'pointer', x: '0.5', y: 0 }), 'invalid'],
    [j({ type: 'pointer', x: NaN, y: 0 }), 'invalid'],
    [j({ type: 'pointer', x: 0.5 }), 'invalid'],
    [j({ type: 'pointer', x: 0.5, y: 0.5, extra: 1 }), 'invalid'],
    [j({ type: 'quality', max: '8k' }), 'invalid'],
    [j({ type: 'still.request', id: '../../etc' }), 'invalid'],
    [j({ type: 'still.done', id: 'a', file: 'F', method: 'guess', width: 1, height: 1 }), 'invalid'],
    [j({ type: 'geo.refused', id: 'g', reason: 'because' }), 'invalid'],
    [j({ type: 'pointer', x: 0, y: 0, pad: 'x'.repeat(MAX_MESSAGE) }), 'oversized'],
  ];
  for (const [data, reason] of cases) {
    const c = check(data, 'agent');
    assert.equal(c.ok, false, data);
    assert.equal(/** @type {any} */ (c).reason, reason, data.slice(0, 80));
  }
  assert.equal(check(42).ok, false);
  // A client cannot point or cap the quality; an agent cannot answer for the client.
  assert.equal(/** @type {any} */ (check(j({ type: 'pointer', x: 0, y: 0 }), 'client')).reason, 'invalid');
  assert.equal(/** @type {any} */ (check(j({ type: 'geo.refused', id: 'g', reason: 'denied' }), 'agent')).reason, 'invalid');
});

test('a flood is held to the type\'s rate per sender, and counted', () => {
  let now = 0;
  const inbox = new Inbox(() => now);
  let taken = 0;
  for (let i = 0; i < 200; i++) if (inbox.take('agent-1', j({ type: 'pointer', x: 0.5, y: 0.5 }), 'agent')) taken += 1;
  assert.equal(taken, Math.ceil(POINTER_RATE * 1.5));
  assert.equal(inbox.dropped.rate, 200 - taken);
  // Another sender has its own allowance; a second later the first one too.
  assert.ok(inbox.take('agent-2', j({ type: 'pointer', x: 0, y: 0 }), 'agent'));
  now = 1000;
  assert.ok(inbox.take('agent-1', j({ type: 'pointer', x: 0, y: 0 }), 'agent'));
  inbox.take('agent-1', 'garbage', 'agent');
  assert.equal(inbox.dropped.malformed, 1);
  assert.equal(inbox.droppedTotal, inbox.dropped.rate + 1);
});

test('pointer moves go out at most 30 a second, the last one always', () => {
  let now = 0;
  /** @type {(() => void)[]} */
  const timers = [];
  const sent = [];
  const pacer = new PointerPacer((m) => sent.push(m), () => now, (fn) => timers.push(fn));
  // 1000 moves over one second (one a millisecond).
  for (let i = 0; i < 1000; i++) {
    now = i;
    pacer.move(i / 1000, 0.5);
    if (timers.length && i % 34 === 0) timers.shift()();
  }
  now = 1100;
  while (timers.length) timers.shift()();
  assert.ok(sent.length <= POINTER_RATE + 2, `${sent.length} sent`);
  assert.ok(sent.length >= 20, `${sent.length} sent`);
  assert.equal(sent.at(-1).x, 0.999, 'where the mouse stopped');
  pacer.click(0.25, 0.75);
  assert.deepEqual(sent.at(-1), { type: 'pointer.click', x: 0.25, y: 0.75 });
});
