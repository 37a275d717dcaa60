// web/sdk/relay.js reads the frames the SFU writes (sfu/src/relay.rs) and nothing else.
// Run: node --test tests/web/

import test from 'node:test';
import assert from 'node:assert/strict';

import {
  CHANNELS, RELAY_MAX_MESSAGE, decodeRelayFrame, encodeRelayFrame, relayableSize, relayedMessage,
} from '../../web/sdk/relay.js';

const bytes = (/** @type {number[]} */ ...b) => new Uint8Array(b);
const ascii = (/** @type {string} */ s) => [...s].map((c) => c.charCodeAt(0));

test('a text frame as the SFU writes it names its sender and carries the text', () => {
  // sfu::relay::encode("alice", true, b"hi")
  const frame = decodeRelayFrame(bytes(1, 1, 5, ...ascii('alice'), ...ascii('hi')).buffer);
  assert.ok(frame);
  assert.equal(frame.from, 'alice');
  assert.equal(frame.text, true);
  assert.equal(relayedMessage(frame), 'hi');
});

test('a binary frame keeps its bytes as they were sent', () => {
  const frame = decodeRelayFrame(bytes(1, 0, 1, ...ascii('b'), 0, 255, 7));
  assert.ok(frame);
  assert.equal(frame.text, false);
  assert.deepEqual([...relayedMessage(frame)], [0, 255, 7]);
});

test('an empty message is a frame with an empty payload', () => {
  const frame = decodeRelayFrame(bytes(1, 1, 2, ...ascii('id')));
  assert.ok(frame);
  assert.equal(relayedMessage(frame), '');
});

test('what is not a frame of version 1 is refused, not guessed at', () => {
  assert.equal(decodeRelayFrame(bytes()), null, 'empty');
  assert.equal(decodeRelayFrame(bytes(1, 1)), null, 'no length');
  assert.equal(decodeRelayFrame(bytes(2, 1, 1, 65, 66)), null, 'another version');
  assert.equal(decodeRelayFrame(bytes(1, 1, 9, 65, 66)), null, 'an id past the end');
  assert.equal(decodeRelayFrame(bytes(1, 1, 0, 65)), null, 'no sender');
});

test('frames round-trip, UTF-8 text included', () => {
  const payload = new TextEncoder().encode('привет 👋');
  const encoded = encodeRelayFrame({ from: 'p-1', text: true, payload });
  const frame = decodeRelayFrame(encoded);
  assert.ok(frame);
  assert.equal(frame.from, 'p-1');
  assert.equal(relayedMessage(frame), 'привет 👋');
  assert.throws(() => encodeRelayFrame({ from: '', text: false, payload }), RangeError);
});

test('the channels have the labels the SFU relays, and messages its size limit', () => {
  assert.deepEqual({ ...CHANNELS }, { reliable: 'vchat', lossy: 'vchat-lossy' });
  assert.equal(relayableSize('abc'), 3);
  assert.equal(relayableSize('я'), 2, 'counted in UTF-8 bytes');
  assert.equal(relayableSize(new Uint8Array(RELAY_MAX_MESSAGE)), RELAY_MAX_MESSAGE);
  assert.equal(relayableSize(new Uint8Array(RELAY_MAX_MESSAGE + 1)), null);
});
