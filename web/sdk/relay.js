// The SFU's data-channel relay: what a participant sends on a data channel reaches every
// other participant on the channel of the same label, framed with who sent it
// (docs/signaling.md, "Data channels"). Pure functions over bytes: no DOM, no WebRTC,
// unit-tested with `node --test` (tests/web/).

/** Data-channel labels: reliable (chat, files) and lossy (pointer). */
export const CHANNELS = Object.freeze({ reliable: 'vchat', lossy: 'vchat-lossy' });

/** The frame version this SDK reads and writes. */
export const RELAY_VERSION = 1;
/** Flag bit 0: the original message was text (UTF-8). */
export const RELAY_FLAG_TEXT = 1;
/** The largest message the SFU relays, in bytes. */
export const RELAY_MAX_MESSAGE = 64 * 1024;

/**
 * A relayed message: its sender (written by the SFU, so it cannot be forged), whether
 * it was sent as text, and its bytes.
 * @typedef {{from: string, text: boolean, payload: Uint8Array}} RelayFrame
 */

/**
 * Reads a frame: version, flags, sender id, payload. `null` for anything that is not a
 * frame of this version (too short, a length past the end, another version).
 * @param {ArrayBuffer | Uint8Array} buffer
 * @returns {RelayFrame | null}
 */
export function decodeRelayFrame(buffer) {
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  if (bytes.length < 3 || bytes[0] !== RELAY_VERSION) return null;
  const idLength = bytes[2];
  if (idLength === 0 || bytes.length < 3 + idLength) return null;
  const from = new TextDecoder().decode(bytes.subarray(3, 3 + idLength));
  return { from, text: (bytes[1] & RELAY_FLAG_TEXT) !== 0, payload: bytes.subarray(3 + idLength) };
}

/**
 * Writes a frame as the SFU does (for tests and tools: browsers only read them).
 * @param {RelayFrame} frame
 * @returns {Uint8Array}
 */
export function encodeRelayFrame(frame) {
  const id = new TextEncoder().encode(frame.from);
  if (id.length === 0 || id.length > 255) throw new RangeError('the sender id is 1 to 255 bytes');
  const out = new Uint8Array(3 + id.length + frame.payload.length);
  out[0] = RELAY_VERSION;
  out[1] = frame.text ? RELAY_FLAG_TEXT : 0;
  out[2] = id.length;
  out.set(id, 3);
  out.set(frame.payload, 3 + id.length);
  return out;
}

/**
 * The message a frame carries: a string when it was sent as text, else its bytes.
 * @param {RelayFrame} frame
 * @returns {string | Uint8Array}
 */
export function relayedMessage(frame) {
  return frame.text ? new TextDecoder().decode(frame.payload) : frame.payload;
}

/**
 * The bytes a message takes on the channel; `null` when the SFU would not relay it.
 * @param {string | ArrayBuffer | Uint8Array} data
 * @returns {number | null}
 */
export function relayableSize(data) {
  const size = typeof data === 'string'
    ? new TextEncoder().encode(data).length
    : data.byteLength;
  return size <= RELAY_MAX_MESSAGE ? size : null;
}
