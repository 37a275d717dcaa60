// web/sdk/signaling.js turns server frames into typed messages of docs/signaling.md
// (version 1), and refuses what is not one. Run: node --test tests/web/

import test from 'node:test';
import assert from 'node:assert/strict';

import { CLOSE, parseServerMessage } from '../../web/sdk/signaling.js';

test('each server message of version 1 is read', () => {
  const welcome = parseServerMessage(JSON.stringify({
    type: 'welcome', participant: { id: 'a', name: 'Ann' }, room: 'r', participants: [{ id: 'b', name: 'Bob' }],
    iceServers: [{ urls: ['turn:127.0.0.1:3478?transport=udp'], username: 'u', credential: 'c' }],
  }));
  assert.ok(welcome && welcome.type === 'welcome');
  assert.equal(welcome.participants[0].name, 'Bob');
  for (const m of [
    { type: 'answer', sdp: 'v=0' },
    { type: 'offer', sdp: 'v=0' },
    { type: 'participant-joined', participant: { id: 'c', name: 'Cy' } },
    { type: 'participant-left', participant: 'c', reason: 'left' },
    { type: 'track-added', participant: 'c', mid: '3', kind: 'video' },
    { type: 'track-removed', participant: 'c', mid: '3' },
    { type: 'error', code: 'bad-sdp', message: 'no m-lines' },
    { type: 'bye', reason: 'shutdown' },
  ]) {
    assert.deepEqual(parseServerMessage(JSON.stringify(m)), m, m.type);
  }
});

test('a welcome without ICE servers gets an empty list; unknown fields stay', () => {
  const m = parseServerMessage('{"type":"welcome","participant":{"id":"a","name":""},"room":"r","participants":[],"later":1}');
  assert.ok(m && m.type === 'welcome');
  assert.deepEqual(m.iceServers, []);
  assert.equal(/** @type {any} */ (m).later, 1);
});

test('what is not a message is refused', () => {
  for (const text of [
    'not json',
    'null',
    '[]',
    '{"type":"nope"}',
    '{"sdp":"v=0"}',
    '{"type":"offer"}',
    '{"type":"offer","sdp":5}',
    '{"type":"track-added","participant":"c","mid":"3","kind":"data"}',
    '{"type":"welcome","participant":{"id":"a"},"room":"r","participants":[]}',
    '{"type":"welcome","participant":{"id":"a","name":"A"},"room":"r","participants":[{"id":1,"name":"x"}]}',
    '{"type":"participant-left","participant":{"id":"c"},"reason":"left"}',
  ]) {
    assert.equal(parseServerMessage(text), null, text);
  }
});

test('close codes are the documented ones', () => {
  assert.equal(CLOSE.normal, 1000);
  assert.equal(CLOSE.badToken, 4401);
  assert.equal(CLOSE.replaced, 4409);
});
