// The agent's in-call tools beside the pointer (which the call screen has): a
// screenshot of the client's video, a photo asked of the client's camera, the client's
// location asked. Screenshots open in the drawing editor; "Send" puts the drawing into
// the chat. Every picture is stored on the server, which writes its EXIF.

import { frameJpeg } from '../call/capture.js';
import { el } from '../common/dom.js';
import { t } from '../common/i18n.js';
import { icon } from '../common/icons.js';
import { loadImage } from '../common/overlay.js';
import { download, screenshot } from '../sdk/api.js';
import { Annotator } from './annotate.js';

/**
 * @typedef {object} ToolsOptions
 * @property {string} interaction
 * @property {() => import('../call/call.js').CallScreen | null} screen
 * @property {(text: string) => void} say Feedback for the agent.
 */

export class AgentTools {
  /** @param {ToolsOptions} o */
  constructor(o) {
    this.o = o;
    /** Stills asked of the client and not answered yet. @type {Set<string>} */
    this.asked = new Set();
    /** @type {Set<string>} */
    this.geoAsked = new Set();
    /** The last refusal or answer, for tests and the status line. */
    this.lastGeo = '';
    /** @type {Annotator | null} */
    this.editor = null;
    this.shotButton = this.button('call.shot', 'shot', () => this.shoot());
    this.photoButton = this.button('call.photo', 'photo', () => this.askPhoto());
    this.geoButton = this.button('call.locate', 'pin', () => this.askLocation());
    /** @type {any} */ (window).vchatTools = this;
  }

  get buttons() {
    return [this.shotButton, this.photoButton, this.geoButton];
  }

  /**
   * @param {string} label
   * @param {string} name
   * @param {() => void} action
   */
  button(label, name, action) {
    const b = el('button', { type: 'button', class: 'icon tool', 'aria-label': t(label), title: t(label) }, icon(name));
    b.addEventListener('click', action);
    return b;
  }

  /** A screenshot of the client's video at its decoded size, opened for drawing. */
  async shoot() {
    const screen = this.o.screen();
    const tile = screen && screen.clientTile();
    if (!tile || !tile.video.videoWidth) {
      this.o.say(t('tools.novideo'));
      return;
    }
    this.shotButton.disabled = true;
    try {
      const f = await frameJpeg(tile.video);
      const stored = await screenshot(this.o.interaction, f.blob, { source: 'client-video', method: 'frame' });
      this.o.say(t('tools.saved', { width: stored.width, height: stored.height }));
      await this.edit(f.blob, stored.file.id, stored.file.name);
    } catch (_) {
      this.o.say(t('tools.failed'));
    } finally {
      this.shotButton.disabled = false;
    }
  }

  askPhoto() {
    const screen = this.o.screen();
    if (!screen) return;
    const id = Math.random().toString(36).slice(2, 12);
    this.asked.add(id);
    if (screen.send({ type: 'still.request', id })) this.o.say(t('tools.photo.asked'));
    else this.o.say(t('tools.photo.failed'));
  }

  askLocation() {
    const screen = this.o.screen();
    if (!screen) return;
    const id = Math.random().toString(36).slice(2, 12);
    this.geoAsked.add(id);
    if (screen.send({ type: 'geo.request', id })) this.o.say(t('tools.geo.asked'));
  }

  /**
   * The client's answers (checked by the call screen already).
   * @param {string} _from
   * @param {Record<string, any>} m
   */
  async onMessage(_from, m) {
    if (m.type === 'still.done' && this.asked.delete(m.id)) {
      this.o.say(t('tools.saved', { width: m.width, height: m.height }));
      try {
        const blob = await download(m.file);
        await this.edit(blob, m.file, 'photo.jpg');
      } catch (_) {
        this.o.say(t('tools.photo.failed'));
      }
    } else if (m.type === 'still.failed' && this.asked.delete(m.id)) {
      this.o.say(t('tools.photo.failed'));
    } else if (m.type === 'geo.refused' && this.geoAsked.delete(m.id)) {
      this.lastGeo = m.reason;
      this.o.say(t(`tools.geo.refused.${m.reason}`));
    }
  }

  /** A position arrived in the chat (from the client). */
  located() {
    this.geoAsked.clear();
    this.lastGeo = 'shared';
    this.o.say(t('tools.geo.shared'));
  }

  /**
   * @param {Blob} blob
   * @param {string} file The stored screenshot it is.
   * @param {string} name
   */
  async edit(blob, file, name) {
    if (this.editor) this.editor.close();
    const image = await loadImage(blob);
    const editor = new Annotator({
      image,
      width: image.naturalWidth,
      height: image.naturalHeight,
      name,
      onSend: async (jpeg) => {
        await screenshot(this.o.interaction, jpeg, { source: 'annotated', of: file, send: true });
        this.o.say(t('draw.sent'));
      },
      onClose: () => {
        if (this.editor === editor) this.editor = null;
        URL.revokeObjectURL(image.src);
      },
    });
    this.editor = editor;
    editor.open();
  }
}
