// The data-channel messages between the pages of a call (docs/datachannel.md): one
// small versioned schema, checked on arrival and before sending. A message that is not
// JSON, too big, of an unknown type, with fields that do not check, or past its type's
// rate is dropped and counted; the call goes on.

/** The schema version. */
export const DC_VERSION = 1;

/** The largest message taken, in bytes (as UTF-16 code units: JSON is ASCII here). */
export const MAX_MESSAGE = 1024;

/** Pointer messages (moves and clicks) sent at most this often per second. */
export const POINTER_RATE = 30;

const QUALITIES = ['480p', '720p', '1080p', '4k'];
const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** @param {unknown} v */
const unit = (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;
/** @param {unknown} v */
const id = (v) => typeof v === 'string' && ID.test(v);
/** @param {unknown} v @param {string[]} allowed */
const oneOf = (v, allowed) => typeof v === 'string' && allowed.includes(v);

/**
 * Each type: who sends it, its fields' checks, and how many a second a page takes.
 * @type {Record<string, {from: 'agent' | 'client' | 'any', fields: Record<string, (v: unknown) => boolean>, optional?: Record<string, (v: unknown) => boolean>, rate: number}>}
 */
export const SCHEMA = {
  quality: { from: 'agent', fields: { max: (v) => oneOf(v, QUALITIES) }, rate: 5 },
  pointer: { from: 'agent', fields: { x: unit, y: unit }, rate: POINTER_RATE },
  'pointer.click': { from: 'agent', fields: { x: unit, y: unit }, rate: 10 },
  'pointer.hide': { from: 'agent', fields: {}, rate: 5 },
  'still.request': { from: 'agent', fields: { id }, rate: 2 },
  'still.done': {
    from: 'client',
    fields: { id, file: id, method: (v) => oneOf(v, ['image-capture', 'canvas']), width: (v) => Number.isInteger(v) && Number(v) > 0 && Number(v) <= 16384, height: (v) => Number.isInteger(v) && Number(v) > 0 && Number(v) <= 16384 },
    rate: 2,
  },
  'still.failed': { from: 'client', fields: { id, reason: (v) => oneOf(v, ['no-camera', 'failed']) }, rate: 2 },
  'geo.request': { from: 'agent', fields: { id }, rate: 2 },
  'geo.refused': { from: 'client', fields: { id, reason: (v) => oneOf(v, ['declined', 'denied', 'unavailable', 'timeout', 'unsupported']) }, rate: 2 },
};

/**
 * @typedef {'malformed' | 'oversized' | 'unknown' | 'invalid' | 'rate'} DropReason
 * @typedef {{ok: true, message: Record<string, any>} | {ok: false, reason: DropReason}} Checked
 */

/**
 * Checks one message's text against the schema (not its rate).
 * @param {unknown} data
 * @param {'agent' | 'client'} [sender] The sender's role, when known.
 * @returns {Checked}
 */
export function check(data, sender) {
  if (typeof data !== 'string') return { ok: false, reason: 'malformed' };
  if (data.length > MAX_MESSAGE) return { ok: false, reason: 'oversized' };
  /** @type {any} */
  let m;
  try {
    m = JSON.parse(data);
  } catch (_) {
    return { ok: false, reason: 'malformed' };
  }
  if (!m || typeof m !== 'object' || Array.isArray(m) || typeof m.type !== 'string') return { ok: false, reason: 'malformed' };
  if (m.v !== DC_VERSION) return { ok: false, reason: 'unknown' };
  const spec = Object.prototype.hasOwnProperty.call(SCHEMA, m.type) ? SCHEMA[m.type] : null;
  if (!spec) return { ok: false, reason: 'unknown' };
  if (sender && spec.from !== 'any' && spec.from !== sender) return { ok: false, reason: 'invalid' };
  for (const key of Object.keys(m)) {
    if (key === 'v' || key === 'type') continue;
    const test = spec.fields[key] || (spec.optional && spec.optional[key]);
    if (!test || !test(m[key])) return { ok: false, reason: 'invalid' };
  }
  for (const key of Object.keys(spec.fields)) if (!(key in m)) return { ok: false, reason: 'invalid' };
  return { ok: true, message: m };
}

/**
 * Messages as they arrive: checked, held to each type's rate per sender (a one-second
 * window), the dropped ones counted by reason.
 */
export class Inbox {
  /** @param {() => number} [now] Milliseconds (tests give their own clock). */
  constructor(now = () => performance.now()) {
    this.now = now;
    /** @type {Record<DropReason, number>} */
    this.dropped = { malformed: 0, oversized: 0, unknown: 0, invalid: 0, rate: 0 };
    this.accepted = 0;
    /** sender → type → [window start, count] @type {Map<string, Map<string, [number, number]>>} */
    this.windows = new Map();
  }

  /**
   * @param {string} from The sender's participant id.
   * @param {unknown} data
   * @param {'agent' | 'client'} [sender]
   * @returns {Record<string, any> | null} The message, or null when dropped.
   */
  take(from, data, sender) {
    const c = check(data, sender);
    if (!c.ok) {
      this.dropped[c.reason] += 1;
      return null;
    }
    const m = c.message;
    let bySender = this.windows.get(from);
    if (!bySender) {
      if (this.windows.size > 64) this.windows.clear();
      bySender = new Map();
      this.windows.set(from, bySender);
    }
    const t = this.now();
    const w = bySender.get(m.type);
    // A little slack over the sender's own limit: timers jitter.
    const limit = Math.ceil(SCHEMA[m.type].rate * 1.5);
    if (!w || t - w[0] >= 1000) bySender.set(m.type, [t, 1]);
    else if (w[1] >= limit) {
      this.dropped.rate += 1;
      return null;
    } else w[1] += 1;
    this.accepted += 1;
    return m;
  }

  /** All dropped, whatever the reason. */
  get droppedTotal() {
    return Object.values(this.dropped).reduce((a, b) => a + b, 0);
  }
}

/**
 * Pointer moves to send: at most `POINTER_RATE` a second; a move that comes too soon
 * is held and the latest one sent when its turn comes (the pointer never lags behind
 * where the mouse stopped).
 */
export class PointerPacer {
  /**
   * @param {(m: Record<string, unknown>) => void} send
   * @param {() => number} [now]
   * @param {(fn: () => void, ms: number) => unknown} [later]
   */
  constructor(send, now = () => performance.now(), later = (fn, ms) => setTimeout(fn, ms)) {
    this.send = send;
    this.now = now;
    this.later = later;
    this.last = -Infinity;
    /** @type {{x: number, y: number} | null} */
    this.pending = null;
    this.waiting = false;
    this.sent = 0;
  }

  /** @param {number} x @param {number} y */
  move(x, y) {
    const gap = 1000 / POINTER_RATE;
    const t = this.now();
    if (t - this.last >= gap && !this.waiting) {
      this.last = t;
      this.sent += 1;
      this.send({ type: 'pointer', x: round(x), y: round(y) });
      return;
    }
    this.pending = { x, y };
    if (this.waiting) return;
    this.waiting = true;
    this.later(() => {
      this.waiting = false;
      const p = this.pending;
      this.pending = null;
      if (p) this.move(p.x, p.y);
    }, Math.max(0, gap - (t - this.last)));
  }

  /** A click goes at once (clicks are rare), after any held move. @param {number} x @param {number} y */
  click(x, y) {
    this.pending = null;
    this.send({ type: 'pointer.click', x: round(x), y: round(y) });
  }

  hide() {
    this.pending = null;
    this.send({ type: 'pointer.hide' });
  }
}

/** Four decimals: a ten-thousandth of the picture is finer than any screen. @param {number} v */
function round(v) {
  return Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;
}
