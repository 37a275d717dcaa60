// The page's live events (docs/events.md, "Live events for pages"): one socket to
// `/api/live`; staff are known by their session cookie, a client by its join token.
// It reconnects by itself (1, 2, 4 … 15 s) and says `ready` after each (re-read lists
// then: events of the gap are not replayed). No DOM.

/**
 * @typedef {object} LiveEvent
 * @property {string} id
 * @property {string} tenant
 * @property {string} kind
 * @property {string | null} interaction
 * @property {number} at
 * @property {string} actor
 * @property {any} data
 */

/**
 * Events (`CustomEvent`s, data in `detail`): `ready` {audience}; `event` {event,
 * message?}; `lagged` {missed}; `down` {code, reason} (reconnecting); `refused`
 * {reason} (credentials not accepted: stops).
 */
export class LiveEvents extends EventTarget {
  /** @param {{token?: string, url?: string}} [options] */
  constructor(options) {
    super();
    this.options = options || {};
    /** @type {WebSocket | null} */
    this.socket = null;
    this.stopped = false;
    this.attempt = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
  }

  connect() {
    const url = this.options.url || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/live`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      /** @type {{type: string, token?: string}} */
      const hello = { type: 'hello' };
      if (this.options.token) hello.token = this.options.token;
      socket.send(JSON.stringify(hello));
    };
    socket.onmessage = (e) => {
      /** @type {any} */
      let m;
      try {
        m = JSON.parse(String(e.data));
      } catch (_) {
        return;
      }
      if (m.type === 'ready') {
        this.attempt = 0;
        this.emit('ready', { audience: m.audience });
      } else if (m.type === 'event' && m.event && typeof m.event.kind === 'string') {
        this.emit('event', { event: m.event, message: m.message });
      } else if (m.type === 'lagged') {
        this.emit('lagged', { missed: m.missed });
      }
    };
    socket.onclose = (e) => {
      if (this.socket !== socket || this.stopped) return;
      if (e.code === 4401) {
        this.emit('refused', { reason: e.reason });
        return;
      }
      this.emit('down', { code: e.code, reason: e.reason });
      const delay = Math.min(15000, 1000 * Math.pow(2, this.attempt++));
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  /**
   * @param {string} type
   * @param {object} detail
   */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
