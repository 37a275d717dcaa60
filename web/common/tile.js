// <vchat-tile>: one video with its name; the local front camera is mirrored here only
// (never what is sent). `playsinline` and `muted` for the local preview keep iOS
// Safari from opening a full-screen player or echoing.

import { el } from './dom.js';
import { t } from './i18n.js';

export class Tile extends HTMLElement {
  constructor() {
    super();
    this.video = el('video', { autoplay: true, playsinline: true });
    this.video.setAttribute('webkit-playsinline', '');
    this.label = el('span', { class: 'name' });
    this.placeholder = el('div', { class: 'no-video' }, t('call.novideo'));
    /** @type {MediaStream} */
    this.stream = new MediaStream();
    this.video.srcObject = this.stream;
  }

  connectedCallback() {
    if (!this.video.isConnected) this.append(this.video, this.placeholder, this.label);
  }

  /** @param {string} name */
  set name(name) {
    this.label.textContent = name;
    this.video.setAttribute('aria-label', name);
  }

  /** Local preview: muted, and mirrored when `mirror`. @param {boolean} mirror */
  local(mirror) {
    this.video.muted = true;
    this.toggleAttribute('data-mirror', mirror);
  }

  /** @param {MediaStreamTrack} track */
  addTrack(track) {
    for (const old of this.stream.getTracks()) {
      if (old.kind === track.kind) this.stream.removeTrack(old);
    }
    this.stream.addTrack(track);
    track.addEventListener('ended', () => this.removeTrack(track));
    this.refresh();
  }

  /** @param {MediaStreamTrack} track */
  removeTrack(track) {
    this.stream.removeTrack(track);
    this.refresh();
  }

  /** @param {string} kind */
  has(kind) {
    return this.stream.getTracks().some((tr) => tr.kind === kind && tr.readyState === 'live');
  }

  refresh() {
    const video = this.stream.getVideoTracks().some((tr) => tr.readyState === 'live' && tr.enabled);
    this.placeholder.classList.toggle('hidden', video);
    this.video.srcObject = this.stream;
    const playing = this.video.play();
    if (playing) playing.catch(() => this.dispatchEvent(new CustomEvent('autoplay-blocked', { bubbles: true })));
  }
}
if (!customElements.get('vchat-tile')) customElements.define('vchat-tile', Tile);
