// vchat browser session: one signaling socket and one RTCPeerConnection to the SFU.
//
// Every page that joins a room (the test page, the agent's and the client's pages) uses
// this module. It negotiates with the SFU as the polite peer over the signaling socket
// (`signaling.js`, docs/signaling.md), maps incoming tracks to participants, and sends
// and receives through the SFU's data-channel relay (`relay.js`). It touches no DOM and
// knows nothing about layout.
//
// Written for Chromium, Firefox and Safari 14+: no private class fields, no top-level
// await, no Array.prototype.at.

import { CHANNELS, decodeRelayFrame, relayedMessage } from './relay.js';
import { CLOSE, Signaling, defaultSignalingUrl } from './signaling.js';

export { CHANNELS } from './relay.js';

/** @typedef {import('./signaling.js').Participant} Participant */
/** @typedef {import('./signaling.js').IceServer} IceServer */
/** @typedef {import('./signaling.js').ServerMessage} ServerMessage */
/** @typedef {import('./signaling.js').Welcome} Welcome */

/**
 * @typedef {object} SessionOptions
 * @property {string} token Join token from `POST /api/rooms`.
 * @property {string} [url] Signaling URL; default `ws(s)://<this host>/ws`.
 * @property {RTCIceTransportPolicy} [iceTransportPolicy] `relay` forces TURN.
 * @property {IceServer[]} [iceServers] Extra ICE servers, besides the ones the server sends.
 */

/**
 * One participant's session in a room.
 *
 * Events (all `CustomEvent`s, data in `detail`):
 * - `welcome` {participant, room, participants}: joined;
 * - `participant-joined` {participant}, `participant-left` {participant, reason};
 * - `track` {participant, track, stream, kind, mid}: a track of another participant;
 * - `track-removed` {participant, mid};
 * - `active-speaker` {participant}: the id of who speaks now;
 * - `message` {from, label, data}: a relayed data-channel message (string or Uint8Array);
 * - `connection` {state}: the RTCPeerConnection's connection state;
 * - `ice` {state}: its ICE connection state;
 * - `error` {code, message}: the server refused something; the session goes on;
 * - `closed` {code, reason, bye}: the session is over (`bye`: the server's reason, e.g.
 *   `room-closed` when the call was ended).
 */
/**
 * The simulcast layers a camera is sent as, lowest first: about 150 kbit/s, 500 kbit/s
 * and 1.5 Mbit/s for a 720-line camera.
 * @type {ReadonlyArray<{rid: string, scaleResolutionDownBy: number, maxBitrate: number}>}
 */
export const SIMULCAST = Object.freeze([
  { rid: 'l', scaleResolutionDownBy: 4, maxBitrate: 150000 },
  { rid: 'm', scaleResolutionDownBy: 2, maxBitrate: 500000 },
  { rid: 'h', scaleResolutionDownBy: 1, maxBitrate: 1500000 },
]);

/**
 * Whether a track is worth sending as simulcast: video of 360 lines or more, from a
 * browser whose simulcast the SFU reads in this layer order (Chromium and Safari;
 * Firefox sends one layer until tested).
 * @param {MediaStreamTrack} track
 */
export function simulcastFits(track) {
  if (track.kind !== 'video') return false;
  if (typeof navigator !== 'undefined' && /Firefox\//.test(navigator.userAgent)) return false;
  const height = track.getSettings ? track.getSettings().height || 0 : 0;
  return height >= 360;
}

export class Session extends EventTarget {
  /** @param {SessionOptions} options */
  constructor(options) {
    super();
    this.options = options;
    /** @type {Participant | null} */
    this.self = null;
    /** @type {string | null} */
    this.room = null;
    /** @type {Map<string, Participant>} */
    this.participants = new Map();
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {Signaling | null} */
    this.signaling = null;
    /** @type {Map<string, RTCDataChannel>} */
    this.channels = new Map();
    /** Which participant each incoming m-line (mid) belongs to. @type {Map<string, string>} */
    this.midOwners = new Map();
    this.closed = false;
    this.makingOffer = false;
    this.negotiationWanted = false;
    this.welcomed = false;
    /** Server messages are handled one at a time, in order. @type {Promise<void>} */
    this.inbox = Promise.resolve();
    /** @type {{stream: MediaStream, track: MediaStreamTrack, options: {simulcast?: boolean}}[]} */
    this.pendingPublish = [];
    /** Why the server said the session ends (`room-closed`, …). @type {string | null} */
    this.byeReason = null;
    /** The next offer restarts ICE. */
    this.iceRestart = false;
  }

  /**
   * Opens the socket and joins. Resolves with the welcome, rejects if the server
   * closes the session first.
   * @returns {Promise<Welcome>}
   */
  join() {
    const signaling = new Signaling(this.options.url || defaultSignalingUrl());
    this.signaling = signaling;
    return new Promise((resolve, reject) => {
      signaling.addEventListener('open', () => this.sendSignal({ type: 'join', token: this.options.token }));
      signaling.addEventListener('message', (e) => {
        /** @type {ServerMessage} */
        const message = /** @type {CustomEvent} */ (e).detail.message;
        if (message.type === 'welcome') resolve(message);
        // Known at once: the close that follows may come before the queue reaches it.
        if (message.type === 'bye') this.byeReason = message.reason;
        this.inbox = this.inbox
          .then(() => this.handle(message))
          .catch((err) => this.emit('error', { code: 'client', message: String(err) }));
      });
      signaling.addEventListener('close', (e) => {
        const { code, reason } = /** @type {CustomEvent} */ (e).detail;
        if (!this.welcomed) reject(new Error(`join refused (${code}): ${reason}`));
        this.finish(code, reason);
      });
      signaling.open();
    });
  }

  /**
   * Sends a track to the room (camera, microphone, later a screen).
   *
   * With `simulcast`, a camera of 360 lines or more goes out as three layers (a
   * quarter, half and whole of its size, lowest first, as the SFU expects): each
   * other participant then gets the one its link and the call's cap allow.
   * @param {MediaStreamTrack} track
   * @param {MediaStream} stream The stream it belongs to (groups audio with video).
   * @param {{simulcast?: boolean}} [options]
   * @returns {RTCRtpSender | null} null before the welcome; the track is sent once joined.
   */
  publish(track, stream, options = {}) {
    if (!this.pc) {
      this.pendingPublish.push({ track, stream, options });
      return null;
    }
    /** @type {RTCRtpTransceiverInit} */
    const init = { direction: 'sendonly', streams: [stream] };
    if (options.simulcast && simulcastFits(track)) init.sendEncodings = SIMULCAST.map((e) => ({ ...e }));
    const transceiver = this.pc.addTransceiver(track, init);
    return transceiver.sender;
  }

  /**
   * Sends `track` instead of what `sender` sends (a camera switch): no renegotiation.
   * @param {RTCRtpSender} sender
   * @param {MediaStreamTrack | null} track
   */
  async replaceTrack(sender, track) {
    await sender.replaceTrack(track);
  }

  /**
   * Caps what `sender` sends: at most `maxHeight` lines (scaled down from the track's
   * height) and `maxBitrate` bits per second, where the browser allows it.
   * @param {RTCRtpSender} sender
   * @param {{maxHeight?: number, maxBitrate?: number}} cap
   */
  async limitSender(sender, cap) {
    const params = sender.getParameters();
    if (!params.encodings || params.encodings.length === 0) params.encodings = [{}];
    const track = sender.track;
    const height = track && track.getSettings ? track.getSettings().height || 0 : 0;
    const layers = params.encodings.length;
    params.encodings.forEach((e, i) => {
      // Simulcast layers keep their own scale; the cap only lowers the tallest ones.
      const base = layers > 1 ? SIMULCAST[Math.min(i, SIMULCAST.length - 1)].scaleResolutionDownBy : 1;
      if (cap.maxHeight && height) e.scaleResolutionDownBy = Math.max(base, height / cap.maxHeight);
      if (cap.maxBitrate && i === layers - 1) e.maxBitrate = cap.maxBitrate;
    });
    await sender.setParameters(params);
  }

  /**
   * Restarts ICE (new credentials in a new offer): what a page does after a network
   * change or an ICE failure, before it rejoins.
   */
  restartIce() {
    const pc = this.pc;
    if (!pc || this.closed) return;
    this.iceRestart = true;
    if (typeof pc.restartIce === 'function') pc.restartIce();
    this.negotiate().catch((err) => this.emit('error', { code: 'client', message: String(err) }));
  }

  /**
   * Stops sending a published track; the others' tiles drop it.
   * @param {RTCRtpSender} sender
   */
  unpublish(sender) {
    if (!this.pc) return;
    const transceiver = this.pc.getTransceivers().find((t) => t.sender === sender);
    if (transceiver) {
      transceiver.direction = 'inactive';
      sender.replaceTrack(null).catch(() => {});
    }
  }

  /**
   * Sends a message to every other participant through the SFU.
   * @param {string | ArrayBuffer | Uint8Array} data
   * @param {{label?: string}} [options] `CHANNELS.lossy` for pointer moves.
   * @returns {boolean} false if the channel is not open (yet).
   */
  send(data, options) {
    const label = (options && options.label) || CHANNELS.reliable;
    const channel = this.channels.get(label);
    if (!channel || channel.readyState !== 'open') return false;
    if (typeof data === 'string') channel.send(data);
    else if (data instanceof Uint8Array) channel.send(data.slice().buffer);
    else channel.send(data);
    return true;
  }

  /** Leaves the room and closes everything. */
  leave() {
    this.sendSignal({ type: 'leave' });
    this.finish(CLOSE.normal, 'left');
  }

  /**
   * @param {string} type
   * @param {object} detail
   */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** @param {import('./signaling.js').ClientMessage} message */
  sendSignal(message) {
    if (this.signaling) this.signaling.send(message);
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  finish(code, reason) {
    if (this.closed) return;
    this.closed = true;
    for (const channel of this.channels.values()) channel.close();
    if (this.pc) this.pc.close();
    if (this.signaling) this.signaling.close(CLOSE.normal);
    this.emit('closed', { code, reason, bye: this.byeReason });
  }

  /** @param {ServerMessage} message */
  async handle(message) {
    switch (message.type) {
      case 'welcome':
        await this.onWelcome(message);
        break;
      case 'answer':
        if (this.pc && this.pc.signalingState === 'have-local-offer') {
          await this.pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
        }
        this.negotiateIfWanted();
        break;
      case 'offer':
        await this.onOffer(message.sdp);
        break;
      case 'participant-joined':
        this.participants.set(message.participant.id, message.participant);
        this.emit('participant-joined', { participant: message.participant });
        break;
      case 'participant-left': {
        const participant = this.participants.get(message.participant) || { id: message.participant, name: '' };
        this.participants.delete(message.participant);
        this.emit('participant-left', { participant, reason: message.reason });
        break;
      }
      case 'track-added':
        this.midOwners.set(message.mid, message.participant);
        break;
      case 'track-removed':
        this.emit('track-removed', { participant: message.participant, mid: message.mid });
        break;
      case 'active-speaker':
        this.emit('active-speaker', { participant: message.participant });
        break;
      case 'error':
        this.emit('error', { code: message.code, message: message.message });
        break;
      case 'bye':
        // The close frame that follows carries the code; `closed` tells the reason.
        this.byeReason = message.reason;
        break;
    }
  }

  /** @param {Welcome} welcome */
  async onWelcome(welcome) {
    this.welcomed = true;
    this.self = welcome.participant;
    this.room = welcome.room;
    for (const p of welcome.participants) this.participants.set(p.id, p);
    const iceServers = (welcome.iceServers || []).concat(this.options.iceServers || []);
    /** @type {RTCConfiguration} */
    const config = { iceServers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' };
    if (this.options.iceTransportPolicy) config.iceTransportPolicy = this.options.iceTransportPolicy;
    const pc = new RTCPeerConnection(config);
    this.pc = pc;

    pc.onicecandidate = (e) => this.sendSignal({ type: 'candidate', candidate: e.candidate ? e.candidate.toJSON() : null });
    pc.onconnectionstatechange = () => this.emit('connection', { state: pc.connectionState });
    // Firefox does not report `connectionState` changes on ICE consent loss at once;
    // its ICE state does.
    pc.oniceconnectionstatechange = () => this.emit('ice', { state: pc.iceConnectionState });
    pc.ontrack = (e) => this.onTrack(e);
    pc.onnegotiationneeded = () => this.negotiate();

    this.openChannel(CHANNELS.reliable, { ordered: true });
    this.openChannel(CHANNELS.lossy, { ordered: false, maxRetransmits: 0 });
    for (const { track, stream, options } of this.pendingPublish) this.publish(track, stream, options);
    this.pendingPublish = [];
    this.emit('welcome', { participant: welcome.participant, room: welcome.room, participants: welcome.participants });
    await this.negotiate();
  }

  /**
   * @param {string} label
   * @param {RTCDataChannelInit} init
   */
  openChannel(label, init) {
    if (!this.pc) return;
    const channel = this.pc.createDataChannel(label, init);
    channel.binaryType = 'arraybuffer';
    channel.onmessage = (e) => {
      if (!(e.data instanceof ArrayBuffer)) return;
      const frame = decodeRelayFrame(e.data);
      if (!frame) return;
      this.emit('message', { from: frame.from, label, data: relayedMessage(frame) });
    };
    this.channels.set(label, channel);
  }

  /** @param {RTCTrackEvent} e */
  onTrack(e) {
    const mid = e.transceiver && e.transceiver.mid;
    const stream = e.streams[0] || new MediaStream([e.track]);
    // The SFU names each forwarded stream after its publisher; the announced mid says
    // the same and is used first.
    const participant = (mid && this.midOwners.get(mid)) || stream.id;
    this.emit('track', { participant, track: e.track, stream, kind: e.track.kind, mid });
  }

  /** Offers our changes, unless an exchange is under way (then later). */
  async negotiate() {
    const pc = this.pc;
    if (!pc || this.closed) return;
    if (this.makingOffer || pc.signalingState !== 'stable') {
      this.negotiationWanted = true;
      return;
    }
    this.negotiationWanted = false;
    this.makingOffer = true;
    try {
      const offer = await pc.createOffer(this.iceRestart ? { iceRestart: true } : undefined);
      this.iceRestart = false;
      if (pc.signalingState !== 'stable') {
        // The SFU's offer came in meanwhile and won; ours is made again after it.
        this.negotiationWanted = true;
        return;
      }
      await pc.setLocalDescription(offer);
      const local = pc.localDescription;
      if (local) this.sendSignal({ type: 'offer', sdp: local.sdp });
    } finally {
      this.makingOffer = false;
    }
  }

  negotiateIfWanted() {
    if (this.negotiationWanted && this.pc && this.pc.signalingState === 'stable') {
      this.negotiate().catch((err) => this.emit('error', { code: 'client', message: String(err) }));
    }
  }

  /**
   * The SFU offers a change. We are the polite side: our own outstanding offer is
   * rolled back and made again after answering (the SFU ignores offers that cross its own).
   * @param {string} sdp
   */
  async onOffer(sdp) {
    const pc = this.pc;
    if (!pc) return;
    if (pc.signalingState === 'have-local-offer') {
      await pc.setLocalDescription({ type: 'rollback' });
      this.negotiationWanted = true;
    }
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    const local = pc.localDescription;
    if (local) this.sendSignal({ type: 'answer', sdp: local.sdp });
    this.negotiateIfWanted();
  }
}
