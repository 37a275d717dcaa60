// The signaling socket (docs/signaling.md, version 1): one WebSocket, JSON text frames,
// typed messages both ways. It knows the protocol's words and close codes, not what a
// session does with them (`session.js`). No DOM.

/**
 * @typedef {{id: string, name: string}} Participant
 * @typedef {{urls: string[], username?: string, credential?: string}} IceServer
 */

/**
 * What the browser sends.
 * @typedef {{type: 'join', token: string}
 *   | {type: 'offer', sdp: string}
 *   | {type: 'answer', sdp: string}
 *   | {type: 'candidate', candidate: RTCIceCandidateInit | null}
 *   | {type: 'leave'}} ClientMessage
 */

/**
 * What the server sends.
 * @typedef {{type: 'welcome', participant: Participant, room: string, participants: Participant[], iceServers: IceServer[]}} Welcome
 * @typedef {Welcome
 *   | {type: 'answer', sdp: string}
 *   | {type: 'offer', sdp: string}
 *   | {type: 'participant-joined', participant: Participant}
 *   | {type: 'participant-left', participant: string, reason: string}
 *   | {type: 'track-added', participant: string, mid: string, kind: 'audio' | 'video'}
 *   | {type: 'track-removed', participant: string, mid: string}
 *   | {type: 'active-speaker', participant: string}
 *   | {type: 'error', code: string, message: string}
 *   | {type: 'bye', reason: string}} ServerMessage
 */

/** Close codes of the signaling socket, by what they mean. */
export const CLOSE = Object.freeze({
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
  tryAgain: 1013,
  badMessage: 4400,
  badToken: 4401,
  roomFull: 4403,
  timeout: 4408,
  replaced: 4409,
});

/** @param {unknown} v @returns {v is string} */
const isString = (v) => typeof v === 'string';
/** @param {any} p @returns {boolean} */
const isParticipant = (p) => p !== null && typeof p === 'object' && isString(p.id) && isString(p.name);

/**
 * Reads a server message; `null` for text that is not one of version 1 (not JSON, an
 * unknown type, a field missing or of the wrong kind). Unknown fields are kept.
 * @param {string} text
 * @returns {ServerMessage | null}
 */
export function parseServerMessage(text) {
  /** @type {any} */
  let m;
  try {
    m = JSON.parse(text);
  } catch (_) {
    return null;
  }
  if (m === null || typeof m !== 'object' || !isString(m.type)) return null;
  switch (m.type) {
    case 'welcome':
      if (!isParticipant(m.participant) || !isString(m.room) || !Array.isArray(m.participants)
        || !m.participants.every(isParticipant)) return null;
      if (!Array.isArray(m.iceServers)) m.iceServers = [];
      return m;
    case 'answer':
    case 'offer':
      return isString(m.sdp) ? m : null;
    case 'participant-joined':
      return isParticipant(m.participant) ? m : null;
    case 'participant-left':
      return isString(m.participant) && isString(m.reason) ? m : null;
    case 'track-added':
      return isString(m.participant) && isString(m.mid) && (m.kind === 'audio' || m.kind === 'video') ? m : null;
    case 'track-removed':
      return isString(m.participant) && isString(m.mid) ? m : null;
    case 'active-speaker':
      return isString(m.participant) ? m : null;
    case 'error':
      return isString(m.code) && isString(m.message) ? m : null;
    case 'bye':
      return isString(m.reason) ? m : null;
    default:
      return null;
  }
}

/** The signaling URL on the page's own server. */
export function defaultSignalingUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

/**
 * The socket. Events (`CustomEvent`, data in `detail`):
 * - `open`: connected, ready to send `join`;
 * - `message` {message: ServerMessage}: each server message, in order;
 * - `invalid` {text}: a frame that is no message of this version (dropped);
 * - `close` {code, reason}: the socket closed.
 */
export class Signaling extends EventTarget {
  /** @param {string} url */
  constructor(url) {
    super();
    this.url = url;
    /** @type {WebSocket | null} */
    this.ws = null;
  }

  /** Opens the socket. */
  open() {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => this.emit('open', {});
    ws.onmessage = (e) => {
      const text = String(e.data);
      const message = parseServerMessage(text);
      if (message) this.emit('message', { message });
      else this.emit('invalid', { text });
    };
    ws.onclose = (e) => this.emit('close', { code: e.code, reason: e.reason || 'connection closed' });
  }

  /** Whether messages can be sent. */
  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /**
   * Sends a message; dropped when the socket is not open.
   * @param {ClientMessage} message
   * @returns {boolean} whether it was sent
   */
  send(message) {
    if (!this.ws || !this.isOpen) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  /**
   * Closes the socket (if it is still open or opening).
   * @param {number} [code]
   */
  close(code) {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(code || CLOSE.normal);
  }

  /**
   * @param {string} type
   * @param {object} detail
   */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
