// The call screen the agent and the client share: the other side's video large, one's
// own preview small (mirrored for a front camera, never what is sent), microphone and
// camera on/off, the camera switch, screen sharing, the quality cap, a connection
// indicator from getStats, and reconnecting by itself — an ICE restart first, then a
// full rejoin with a fresh token — with "reconnecting" shown meanwhile.
//
// Tests reach it as `window.vchatCall`.

import { el } from '../common/dom.js';
import { cameraConstraints } from '../common/devices.js';
import { t } from '../common/i18n.js';
import { icon } from '../common/icons.js';
import { PointerOverlay, toPicture } from '../common/pointer.js';
import { QualityIndicator, watchQuality } from '../common/quality.js';
import { Tile } from '../common/tile.js';
import { CHANNELS, Session } from '../sdk/session.js';
import { DC_VERSION, Inbox, PointerPacer } from './messages.js';

export { DC_VERSION };

/** The heights of the quality levels. */
export const QUALITY_HEIGHT = /** @type {Record<string, number>} */ ({ '480p': 480, '720p': 720, '1080p': 1080, '4k': 2160 });

/**
 * @typedef {'connecting' | 'connected' | 'reconnecting' | 'left' | 'ended'} Phase
 * @typedef {object} CallOptions
 * @property {() => Promise<string>} getToken A join token (again at each rejoin).
 * @property {'agent' | 'client'} role
 * @property {boolean} sendVideo Whether this side sends its camera.
 * @property {'front' | 'back'} facing The camera to start with.
 * @property {string} maxQuality `480p` … `4k`.
 * @property {MediaStream} [stream] Media opened already (the device check's).
 * @property {string} selfName
 * @property {HTMLElement} [chat] The chat panel, placed beside the stage.
 * @property {(phase: Phase, detail?: string) => void} [onPhase]
 * @property {(from: string, message: any) => void} [onMessage] Data-channel messages (checked).
 * @property {HTMLElement[]} [tools] More toolbar buttons (the app's in-call tools).
 * @property {boolean} [audioOnly] The other side has no screen (an intercom): no
 *   pointer, screen share or chat, and its tile says it is a voice call.
 * @property {() => void} [onHangUp] The leave/end button (the app decides which).
 * @property {number} [rejoinWindowMs] How long rejoining is tried (default 120 s).
 */

export class CallScreen {
  /**
   * @param {HTMLElement} root
   * @param {CallOptions} o
   */
  constructor(root, o) {
    this.o = o;
    this.facing = o.facing;
    this.maxHeight = QUALITY_HEIGHT[o.maxQuality] || 720;
    /** @type {Phase} */
    this.phase = 'connecting';
    /** @type {Session | null} */
    this.session = null;
    /** @type {MediaStream} */
    this.local = o.stream || new MediaStream();
    /** @type {RTCRtpSender | null} */
    this.videoSender = null;
    /** @type {RTCRtpSender | null} */
    this.screenSender = null;
    /** @type {MediaStreamTrack | null} */
    this.screenTrack = null;
    /** @type {Map<string, Tile>} */
    this.tiles = new Map();
    /** Which tile each incoming mid fills. @type {Map<string, Tile>} */
    this.byMid = new Map();
    this.stopQuality = () => {};
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.restartTimer = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.rejoinTimer = null;
    this.rejoinDeadline = 0;
    this.over = false;
    /** A token fetched for the next join. @type {string | null} */
    this.nextToken = null;
    /** How often this call restarted ICE and joined again (tests read them). */
    this.iceRestarts = 0;
    this.rejoins = 0;
    /** Data-channel messages as they arrive: checked, rate-held, the dropped counted. */
    this.inbox = new Inbox();
    /** The agent's pointer: on, sent paced, drawn over the client's video here too. */
    this.pointing = false;
    this.pointerShown = false;
    this.pacer = new PointerPacer((m) => this.send(m));
    /** @type {PointerOverlay | null} */
    this.remotePointer = null;
    /** The client's view of the agent's pointer, over its own preview. @type {PointerOverlay | null} */
    this.selfPointer = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.unfocusTimer = null;

    this.remote = el('div', { class: 'remote', 'aria-label': t('call.screen') });
    this.self = /** @type {Tile} */ (document.createElement('vchat-tile'));
    this.self.classList.add('self');
    this.self.name = o.selfName || t('call.you');
    this.banner = el('div', { class: 'call-banner hidden', role: 'status', 'aria-live': 'polite' });
    this.flashLine = el('div', { class: 'call-flash hidden', role: 'status', 'aria-live': 'polite' });
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.flashTimer = null;
    this.soundButton = el('button', { type: 'button', class: 'sound hidden primary' }, t('call.sound'));
    this.soundButton.addEventListener('click', () => this.playAll());
    this.stage = el('div', { class: 'stage' }, this.remote, this.self, this.banner, this.flashLine, this.soundButton);
    this.stage.addEventListener('autoplay-blocked', () => this.soundButton.classList.remove('hidden'));

    this.quality = /** @type {QualityIndicator} */ (document.createElement('vchat-quality'));
    this.micButton = this.toggle('call.mic.off', 'call.mic.on', 'mic', (on) => this.setEnabled('audio', on));
    this.camButton = this.toggle('call.cam.off', 'call.cam.on', 'camera', (on) => this.setEnabled('video', on));
    this.switchButton = this.button('call.switch', 'switch', () => this.switchCamera());
    this.shareButton = this.button('call.share', 'screen', () => (this.screenTrack ? this.stopShare() : this.share()));
    this.pointerButton = this.toggle('call.pointer', 'call.pointer.stop', 'pointer', (on) => this.setPointing(!on));
    this.pointerButton.classList.add('tool');
    this.chatButton = this.button('call.chat', 'chat', () => root.classList.toggle('chat-open'));
    this.chatButton.classList.add('chat-toggle');
    const hangUp = el('button', { type: 'button', class: 'danger hang-up' }, o.role === 'agent' ? t('call.end') : t('call.leave'));
    hangUp.addEventListener('click', () => (o.onHangUp ? o.onHangUp() : this.leave()));
    this.toolbar = el('div', { class: 'toolbar', role: 'toolbar', 'aria-label': t('call.screen') },
      this.micButton, this.camButton, this.switchButton, this.shareButton, this.pointerButton, ...(o.tools || []), this.chatButton, this.quality, hangUp);
    if (o.role !== 'agent' || o.audioOnly) this.pointerButton.classList.add('hidden');
    if (!o.chat) this.chatButton.classList.add('hidden');
    this.remote.addEventListener('pointermove', (e) => this.onAgentPointer(e, false));
    this.remote.addEventListener('pointerdown', (e) => this.onAgentPointer(e, true));
    this.remote.addEventListener('pointerleave', () => this.pointerAway());
    if (o.role === 'client') {
      // A tap on one's own preview shows it large (where the agent points), and back.
      this.self.setAttribute('title', t('call.focus.self'));
      this.self.addEventListener('click', () => this.focusSelf(!this.stage.classList.contains('focus-self')));
    }
    if (!o.sendVideo) {
      this.camButton.classList.add('hidden');
      this.switchButton.classList.add('hidden');
      this.self.classList.add('hidden');
    }
    if (o.role !== 'agent' || o.audioOnly || !navigator.mediaDevices || !('getDisplayMedia' in navigator.mediaDevices) || matchMedia('(pointer: coarse)').matches) {
      this.shareButton.classList.add('hidden');
    }
    this.switchButton.classList.add('hidden');
    root.classList.add('call-screen');
    root.replaceChildren(this.stage, this.toolbar);
    if (o.chat) root.append(o.chat);
    else root.classList.add('no-chat');
    /** @type {any} */ (window).vchatCall = this;
    // The name the room page's tests read its session by (tests/e2e/harness.js).
    /** @type {any} */ (window).vchatRoom = this;
  }

  /**
   * @param {string} label
   * @param {string} name The icon.
   * @param {() => void} action
   */
  button(label, name, action) {
    const b = el('button', { type: 'button', class: 'icon', 'aria-label': t(label), title: t(label) }, icon(name));
    b.addEventListener('click', action);
    return b;
  }

  /**
   * A button that turns something off and on again, with `aria-pressed` when off.
   * @param {string} offLabel
   * @param {string} onLabel
   * @param {string} name The icon.
   * @param {(on: boolean) => void} action
   */
  toggle(offLabel, onLabel, name, action) {
    const b = this.button(offLabel, name, () => {
      const off = b.getAttribute('aria-pressed') !== 'true';
      b.setAttribute('aria-pressed', String(off));
      const label = t(off ? onLabel : offLabel);
      b.setAttribute('aria-label', label);
      b.title = label;
      action(!off);
    });
    b.setAttribute('aria-pressed', 'false');
    return b;
  }

  /** Joins (the first time) with the media given or opened now. */
  async start() {
    if (!this.local.getTracks().length) {
      try {
        this.local = await navigator.mediaDevices.getUserMedia({
          audio: true,
          video: this.o.sendVideo ? cameraConstraints(this.facing, this.maxHeight) : false,
        });
      } catch (_) {
        this.showBanner(t('call.media.denied'));
      }
    }
    if (!this.o.sendVideo) this.local.getVideoTracks().forEach((tr) => { tr.stop(); this.local.removeTrack(tr); });
    const video = this.local.getVideoTracks()[0];
    if (video) {
      this.self.addTrack(video);
      this.mirror();
      this.capTrack(video);
    }
    this.countCameras();
    await this.join();
  }

  async countCameras() {
    try {
      const devices = await navigator.mediaDevices.enumerateDevices();
      const cams = devices.filter((d) => d.kind === 'videoinput').length;
      this.switchButton.classList.toggle('hidden', !this.o.sendVideo || cams < 2);
    } catch (_) {
      // no switch then
    }
  }

  async join() {
    const token = this.nextToken || (await this.o.getToken());
    this.nextToken = null;
    const session = new Session({ token });
    this.session = session;
    for (const track of this.local.getTracks()) {
      if (track.kind === 'video' && !this.o.sendVideo) continue;
      // The camera as simulcast: each other side gets what its link and the cap allow.
      session.publish(track, this.local, { simulcast: true });
    }
    if (this.screenTrack) session.publish(this.screenTrack, new MediaStream([this.screenTrack]));
    const on = (/** @type {string} */ type, /** @type {(d: any) => void} */ fn) =>
      session.addEventListener(type, (e) => fn(/** @type {CustomEvent} */ (e).detail));
    on('welcome', () => {
      if (!this.session || this.session !== session || !session.pc) return;
      const pc = session.pc;
      const senders = pc.getSenders();
      this.videoSender = senders.find((s) => s.track && s.track.kind === 'video' && s.track !== this.screenTrack) || null;
      this.stopQuality();
      this.stopQuality = watchQuality(pc, (q) => this.quality.show(q));
      if (this.videoSender) this.capSender();
    });
    on('track', (d) => this.onTrack(d.participant, d.track, d.kind, d.mid));
    on('track-removed', (d) => {
      const tile = this.byMid.get(d.mid);
      if (tile && tile.classList.contains('screen')) {
        tile.remove();
        this.byMid.delete(d.mid);
        this.remote.classList.remove('sharing');
      }
    });
    on('participant-left', (d) => {
      const tile = this.tiles.get(d.participant.id);
      if (tile) {
        tile.remove();
        this.tiles.delete(d.participant.id);
      }
      this.remote.querySelectorAll(`.screen[data-participant="${d.participant.id}"]`).forEach((n) => n.remove());
    });
    on('participant-joined', (d) => this.tileFor(d.participant.id, d.participant.name));
    on('message', (d) => {
      if (session.self && d.from === session.self.id) return;
      const m = this.inbox.take(d.from, d.data, d.from === 'client' ? 'client' : 'agent');
      if (!m) return;
      if (this.o.role === 'client') {
        if (m.type === 'quality') this.setMaxQuality(m.max);
        if (m.type === 'pointer' || m.type === 'pointer.click' || m.type === 'pointer.hide') this.showPointer(m);
      }
      if (this.o.onMessage) this.o.onMessage(d.from, m);
    });
    on('connection', (d) => this.onConnection(d.state));
    on('ice', (d) => {
      if (d.state === 'disconnected' || d.state === 'failed') this.onConnection(d.state);
    });
    on('closed', (d) => this.onClosed(session, d.code, d.bye));
    try {
      const welcome = await session.join();
      for (const p of welcome.participants) this.tileFor(p.id, p.name);
    } catch (err) {
      if (this.session === session) this.scheduleRejoin();
    }
  }

  /**
   * @param {string} participant
   * @param {MediaStreamTrack} track
   * @param {string} kind
   * @param {string | null} mid
   */
  onTrack(participant, track, kind, mid) {
    let tile = this.tileFor(participant, (this.session && this.session.participants.get(participant) || { name: '' }).name);
    if (kind === 'video' && tile.has('video') && mid && this.byMid.get(mid) !== tile) {
      // A second video of the same person: their screen.
      tile = /** @type {Tile} */ (document.createElement('vchat-tile'));
      tile.classList.add('screen');
      tile.dataset.participant = participant;
      tile.name = t('call.screen');
      tile.video.muted = true;
      this.remote.prepend(tile);
      this.remote.classList.add('sharing');
    }
    if (mid) this.byMid.set(mid, tile);
    tile.addTrack(track);
  }

  /**
   * @param {string} id
   * @param {string} name
   * @returns {Tile}
   */
  tileFor(id, name) {
    let tile = this.tiles.get(id);
    if (!tile) {
      tile = /** @type {Tile} */ (document.createElement('vchat-tile'));
      tile.dataset.participant = id;
      if (this.o.audioOnly) tile.placeholder.textContent = t('call.voice');
      this.tiles.set(id, tile);
      this.remote.append(tile);
      tile.video.addEventListener('playing', () => this.soundButton.classList.add('hidden'));
    }
    if (name) tile.name = name;
    return tile;
  }

  /** The client's tile (the agent's page), if the client is here. */
  clientTile() {
    return this.tiles.get('client') || null;
  }

  /**
   * What the client sees of the agent: the shared screen when there is one, else the
   * agent's camera.
   * @returns {{video: HTMLVideoElement, screen: boolean} | null}
   */
  agentPicture() {
    const screen = /** @type {Tile | null} */ (this.remote.querySelector('vchat-tile.screen'));
    if (screen && screen.video.videoWidth) return { video: screen.video, screen: true };
    for (const tile of this.tiles.values()) if (tile.video.videoWidth) return { video: tile.video, screen: false };
    return null;
  }

  /** @param {boolean} on */
  setPointing(on) {
    this.pointing = on;
    this.remote.classList.toggle('pointing', on);
    // One's own preview lets the mouse through to the video under it (its corner).
    this.stage.classList.toggle('pointing', on);
    if (!on) this.pointerAway();
  }

  /**
   * The agent's mouse over the client's video: sent as a spot of the picture.
   * @param {PointerEvent} e
   * @param {boolean} click
   */
  onAgentPointer(e, click) {
    if (!this.pointing || this.o.role !== 'agent') return;
    const tile = this.clientTile();
    const p = tile && toPicture(tile.video, e.clientX, e.clientY);
    if (!tile || !p) {
      this.pointerAway();
      return;
    }
    if (!this.remotePointer || this.remotePointer.tile !== tile) this.remotePointer = new PointerOverlay(tile, tile.video);
    this.pointerShown = true;
    if (click) {
      this.pacer.click(p.x, p.y);
      this.remotePointer.click(p.x, p.y);
    } else {
      this.pacer.move(p.x, p.y);
      this.remotePointer.move(p.x, p.y);
    }
  }

  pointerAway() {
    if (!this.pointerShown) return;
    this.pointerShown = false;
    this.pacer.hide();
    if (this.remotePointer) this.remotePointer.hide();
  }

  /**
   * The agent's pointer on the client's page, over its own preview (shown large while
   * the agent points).
   * @param {Record<string, any>} m
   */
  showPointer(m) {
    if (!this.selfPointer) this.selfPointer = new PointerOverlay(this.self, this.self.video);
    if (m.type === 'pointer.hide') this.selfPointer.hide();
    else {
      this.focusSelf(true);
      if (m.type === 'pointer') this.selfPointer.move(m.x, m.y);
      else this.selfPointer.click(m.x, m.y);
    }
    if (this.unfocusTimer) clearTimeout(this.unfocusTimer);
    this.unfocusTimer = setTimeout(() => this.focusSelf(false), 8000);
  }

  /** @param {boolean} on */
  focusSelf(on) {
    if (!this.o.sendVideo) return;
    this.stage.classList.toggle('focus-self', on);
  }

  playAll() {
    this.soundButton.classList.add('hidden');
    for (const v of Array.from(this.stage.querySelectorAll('video'))) v.play().catch(() => this.soundButton.classList.remove('hidden'));
  }

  /** @param {string} state */
  onConnection(state) {
    if (this.over) return;
    if (state === 'connected') {
      if (this.restartTimer) clearTimeout(this.restartTimer);
      if (this.rejoinTimer) clearTimeout(this.rejoinTimer);
      this.restartTimer = this.rejoinTimer = null;
      this.rejoinDeadline = 0;
      this.showBanner('');
      this.setPhase('connected');
    } else if (state === 'disconnected' || state === 'failed') {
      if (this.phase === 'connected') this.setPhase('reconnecting');
      this.showBanner(t('call.reconnecting'));
      if (this.restartTimer) return;
      // A short cut heals by itself; past 2 s (or at once on failure) ICE restarts,
      // and past 8 s more the page joins again.
      this.restartTimer = setTimeout(() => {
        if (this.session) {
          this.iceRestarts += 1;
          this.session.restartIce();
        }
        this.restartTimer = setTimeout(() => {
          this.restartTimer = null;
          this.rejoin();
        }, 8000);
      }, state === 'failed' ? 0 : 2000);
    }
  }

  /**
   * @param {Session} session
   * @param {number} code
   * @param {string | null} bye
   */
  onClosed(session, code, bye) {
    if (session !== this.session || this.over) return;
    if (bye === 'room-closed') {
      this.end('ended');
      return;
    }
    if (code === 4409) {
      // This person joined elsewhere (another tab): this page stops.
      this.end('left', 'replaced');
      return;
    }
    this.setPhase('reconnecting');
    this.showBanner(t('call.reconnecting'));
    this.scheduleRejoin();
  }

  scheduleRejoin() {
    if (this.over || this.rejoinTimer) return;
    if (!this.rejoinDeadline) this.rejoinDeadline = Date.now() + (this.o.rejoinWindowMs || 120000);
    if (Date.now() > this.rejoinDeadline) {
      this.end('left', 'unreachable');
      return;
    }
    this.rejoinTimer = setTimeout(() => {
      this.rejoinTimer = null;
      this.rejoin();
    }, 1000);
  }

  /** Leaves the old session quietly and joins again with a fresh token. */
  async rejoin() {
    if (this.over) return;
    /** @type {string} */
    let token;
    try {
      token = await this.o.getToken();
    } catch (err) {
      // The call is over (409, 410) or the link gone: nothing to rejoin.
      const status = err && typeof err === 'object' && 'status' in err ? Number(err.status) : 0;
      if (status === 409 || status === 410 || status === 404) this.end('ended');
      else this.scheduleRejoin();
      return;
    }
    this.nextToken = token;
    this.rejoins += 1;
    if (this.over) return;
    const old = this.session;
    this.session = null;
    if (old) old.leave();
    this.tiles.forEach((tile) => tile.remove());
    this.tiles.clear();
    this.byMid.clear();
    this.remote.replaceChildren();
    if (!this.rejoinDeadline) this.rejoinDeadline = Date.now() + (this.o.rejoinWindowMs || 120000);
    try {
      await this.join();
    } catch (_) {
      this.scheduleRejoin();
    }
  }

  /**
   * @param {Phase} phase
   * @param {string} [detail]
   */
  setPhase(phase, detail) {
    if (this.phase === phase) return;
    this.phase = phase;
    if (this.o.onPhase) this.o.onPhase(phase, detail);
  }

  /**
   * A short note over the stage (what a tool did), gone after a few seconds.
   * @param {string} text
   */
  flash(text) {
    this.flashLine.textContent = text;
    this.flashLine.classList.remove('hidden');
    if (this.flashTimer) clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => this.flashLine.classList.add('hidden'), 4000);
  }

  /**
   * What the other side said of its own connection (the client's `client.state`, as
   * the agent hears it on the live feed): while it reconnects and this page is fine,
   * the banner says so; once it is back, the banner goes.
   * @param {string} state
   */
  peerState(state) {
    if (this.over || this.phase !== 'connected') return;
    if (state === 'reconnecting') this.showBanner(t('call.peer.reconnecting'));
    else if (state === 'connected') this.showBanner('');
  }

  /** @param {string} text */
  showBanner(text) {
    this.banner.textContent = text;
    this.banner.classList.toggle('hidden', !text);
  }

  /**
   * @param {'audio' | 'video'} kind
   * @param {boolean} on
   */
  setEnabled(kind, on) {
    for (const tr of this.local.getTracks()) if (tr.kind === kind) tr.enabled = on;
    if (kind === 'video') this.self.refresh();
  }

  mirror() {
    const track = this.local.getVideoTracks()[0];
    const facing = track && track.getSettings ? track.getSettings().facingMode : undefined;
    this.self.local(facing ? facing === 'user' : this.facing === 'front');
  }

  /** Front ↔ back: the old camera stops first (phones open one at a time). */
  async switchCamera() {
    const old = this.local.getVideoTracks()[0];
    const oldId = old && old.getSettings ? old.getSettings().deviceId : undefined;
    const next = this.facing === 'front' ? 'back' : 'front';
    if (old) {
      old.stop();
      this.local.removeTrack(old);
    }
    /** @type {MediaStreamTrack | null} */
    let track = null;
    try {
      const s = await navigator.mediaDevices.getUserMedia({ video: { ...cameraConstraints(next, this.maxHeight), facingMode: { exact: next === 'back' ? 'environment' : 'user' } } });
      track = s.getVideoTracks()[0];
    } catch (_) {
      const cams = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
      const other = cams.find((c) => c.deviceId && c.deviceId !== oldId) || cams[0];
      if (other) {
        const s = await navigator.mediaDevices.getUserMedia({ video: { deviceId: { exact: other.deviceId }, height: { ideal: Math.min(720, this.maxHeight) } } });
        track = s.getVideoTracks()[0];
      }
    }
    if (!track) return;
    this.facing = next;
    this.local.addTrack(track);
    this.self.addTrack(track);
    this.mirror();
    await this.capTrack(track);
    if (this.videoSender && this.session) {
      await this.session.replaceTrack(this.videoSender, track);
      await this.capSender();
    }
  }

  /**
   * The call's quality cap changed (the agent's choice): the camera and its sender
   * send at most that many lines.
   * @param {string} max
   */
  async setMaxQuality(max) {
    this.maxHeight = QUALITY_HEIGHT[max] || this.maxHeight;
    const track = this.local.getVideoTracks()[0];
    if (track) await this.capTrack(track);
    await this.capSender();
  }

  /** @param {MediaStreamTrack} track */
  async capTrack(track) {
    try {
      await track.applyConstraints({ height: { max: this.maxHeight } });
    } catch (_) {
      // Some cameras refuse; the sender scales down instead.
    }
  }

  async capSender() {
    if (!this.videoSender || !this.session) return;
    try {
      await this.session.limitSender(this.videoSender, { maxHeight: this.maxHeight });
    } catch (_) {
      // Safari 14 refuses some parameters; the camera's constraint still holds.
    }
  }

  /** Sends the screen as a second video track (desktop browsers). */
  async share() {
    try {
      const s = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
      const track = s.getVideoTracks()[0];
      this.screenTrack = track;
      track.addEventListener('ended', () => this.stopShare());
      if (this.session) this.screenSender = this.session.publish(track, s);
      this.shareButton.setAttribute('aria-label', t('call.share.stop'));
      this.shareButton.title = t('call.share.stop');
      this.shareButton.setAttribute('aria-pressed', 'true');
    } catch (_) {
      // the person chose nothing
    }
  }

  stopShare() {
    if (this.screenTrack) this.screenTrack.stop();
    if (this.screenSender && this.session) this.session.unpublish(this.screenSender);
    this.screenTrack = null;
    this.screenSender = null;
    this.shareButton.setAttribute('aria-label', t('call.share'));
    this.shareButton.title = t('call.share');
    this.shareButton.setAttribute('aria-pressed', 'false');
  }

  /**
   * Sends a data-channel message to the others (docs/datachannel.md).
   * @param {Record<string, unknown>} message
   */
  send(message) {
    if (!this.session) return false;
    // Pointer moves go unordered and unresent: a late one is worth nothing.
    const options = message.type === 'pointer' ? { label: CHANNELS.lossy } : undefined;
    return this.session.send(JSON.stringify({ v: DC_VERSION, ...message }), options);
  }

  /** How media reaches the server now: `relay` through TURN, else `direct`. */
  async networkPath() {
    const pc = this.session && this.session.pc;
    if (!pc) return null;
    const report = await pc.getStats();
    /** @type {any} */
    let pair = null;
    report.forEach((/** @type {any} */ s) => {
      if (s.type === 'candidate-pair' && s.state === 'succeeded' && (s.nominated || s.selected)) pair = s;
    });
    if (!pair) return pc.connectionState === 'failed' ? 'failed' : null;
    /** @type {any} */
    const local = report.get(pair.localCandidateId);
    return local && local.candidateType === 'relay' ? 'relay' : 'direct';
  }

  leave() {
    this.end('left');
  }

  /**
   * Stops everything: camera and microphone off, the session closed.
   * @param {Phase} phase
   * @param {string} [detail]
   */
  end(phase, detail) {
    if (this.over) return;
    this.over = true;
    for (const timer of [this.restartTimer, this.rejoinTimer]) if (timer) clearTimeout(timer);
    this.stopQuality();
    this.stopShare();
    for (const tr of this.local.getTracks()) tr.stop();
    if (this.session) this.session.leave();
    this.showBanner('');
    this.setPhase(phase, detail);
  }
}
