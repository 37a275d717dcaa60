// <vchat-chat>: an interaction's stored chat (`/api/interactions/{id}/messages`),
// with files up to 100 MB both ways (progress, cancel, image previews). History is
// read from the API (so it survives a reload); new messages arrive live from the
// page's events socket through `add`.

import { call, download, upload } from '../sdk/api.js';
import { el } from './dom.js';
import { formatTime, t } from './i18n.js';
import { icon } from './icons.js';
import { openOverlay } from './overlay.js';

/** Largest file, as the server's default `files.max_bytes`. */
export const MAX_FILE = 100 * 1024 * 1024;
const IMAGE = /\.(png|jpe?g|gif|webp)$/i;

/**
 * @typedef {object} ChatMessage
 * @property {string} id
 * @property {number} at
 * @property {string} from
 * @property {string} name
 * @property {string} text
 * @property {string | null} [file]
 * @property {any} [geo]
 */

export class Chat extends HTMLElement {
  constructor() {
    super();
    /** @type {string} */
    this.interaction = '';
    /** Join token (clients); staff use their cookie. @type {string | undefined} */
    this.token = undefined;
    /** Whose messages are "mine". @type {string} */
    this.self = '';
    /** @type {Set<string>} */
    this.seen = new Set();
    /** Shares the person's position, when the page offers it (the client's). @type {(() => void) | null} */
    this.locate = null;
    /** Addresses that came before their message. @type {Map<string, any>} */
    this.early = new Map();
    this.list = el('ol', { class: 'messages', 'aria-live': 'polite', 'aria-label': t('chat.title') });
    this.emptyNote = el('li', { class: 'empty muted' }, t('chat.empty'));
    this.list.append(this.emptyNote);
    this.uploads = el('div', { class: 'uploads' });
    this.input = el('textarea', { rows: 1, maxlength: 4000, placeholder: t('chat.placeholder'), 'aria-label': t('chat.placeholder'), enterkeyhint: 'send' });
    this.fileInput = el('input', { type: 'file', class: 'visually-hidden', id: `file-${Math.random().toString(36).slice(2)}`, multiple: true });
    const attach = el('label', { class: 'button icon', for: this.fileInput.id, title: t('chat.attach') }, icon('clip'), el('span', { class: 'visually-hidden' }, t('chat.attach')));
    this.sendButton = el('button', { type: 'submit', class: 'primary icon', 'aria-label': t('chat.send'), title: t('chat.send') }, icon('send'));
    this.form = el('form', { class: 'compose' }, attach, this.fileInput, this.input, this.sendButton);
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.sendText();
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        this.sendText();
      }
    });
    this.fileInput.addEventListener('change', () => {
      for (const f of Array.from(this.fileInput.files || [])) this.sendFile(f);
      this.fileInput.value = '';
    });
  }

  connectedCallback() {
    if (this.list.isConnected) return;
    if (this.locate) {
      const pin = el('button', { type: 'button', class: 'icon locate', 'aria-label': t('chat.locate'), title: t('chat.locate') }, icon('pin'));
      pin.addEventListener('click', () => this.locate && this.locate());
      this.form.insertBefore(pin, this.input);
    }
    this.append(el('h2', { class: 'visually-hidden' }, t('chat.title')), this.list, this.uploads, this.form);
  }

  /** Reads the history. */
  async load() {
    /** @type {ChatMessage[]} */
    const messages = await call(`/api/interactions/${encodeURIComponent(this.interaction)}/messages`, { token: this.token });
    for (const m of messages) this.add(m);
  }

  /** @param {ChatMessage} m */
  add(m) {
    if (this.seen.has(m.id)) return;
    this.seen.add(m.id);
    this.emptyNote.remove();
    const mine = m.from === this.self;
    const body = el('div', { class: 'body' });
    if (m.file) body.append(this.fileView(m.file, m.text || 'file'));
    else if (m.geo && typeof m.geo.lat === 'number') body.append(this.geoView(m));
    else body.append(m.text);
    const item = el('li', { class: mine ? 'mine' : 'theirs', 'data-id': m.id },
      el('div', { class: 'meta' }, el('b', {}, m.name || m.from), ' ', el('time', {}, formatTime(m.at))), body);
    // Kept in time order: a message read from the history may be older than a live one.
    const after = Array.from(this.list.children).find((c) => Number(/** @type {HTMLElement} */ (c).dataset.at || 0) > m.at);
    item.dataset.at = String(m.at);
    if (after) this.list.insertBefore(item, after);
    else this.list.append(item);
    this.list.scrollTop = this.list.scrollHeight;
    this.dispatchEvent(new CustomEvent('chat-message', { detail: { message: m, mine }, bubbles: true }));
  }

  /**
   * A shared position: where (the address once found), a map link and a picture.
   * @param {ChatMessage} m
   */
  geoView(m) {
    const g = m.geo;
    const box = el('div', { class: 'geo', 'data-geo': m.id });
    const coords = `${g.lat.toFixed(5)}, ${g.lon.toFixed(5)}`;
    const address = el('p', { class: 'address' });
    const link = el('a', { href: g.map_url, target: '_blank', rel: 'noopener', class: 'map-link' }, t('chat.map'));
    box.append(el('b', {}, t('chat.position')), address, el('p', { class: 'muted small' }, `${coords} ±${Math.round(g.accuracy)} m · `, link));
    const early = this.early.get(m.id);
    if (early) {
      this.early.delete(m.id);
      g.address = early.display_name;
      g.preview = early.preview;
    }
    this.fillGeo(box, g.address, g.preview, 'address' in g);
    return box;
  }

  /**
   * @param {HTMLElement} box
   * @param {string | null | undefined} address
   * @param {string | null | undefined} preview
   * @param {boolean} known Whether the lookup is over.
   */
  fillGeo(box, address, preview, known) {
    const line = /** @type {HTMLElement} */ (box.querySelector('.address'));
    line.textContent = address || (known ? '' : t('chat.address.pending'));
    line.classList.toggle('muted', !address);
    if (preview && !box.querySelector('img.map')) {
      download(preview, { token: this.token }).then((blob) => {
        const img = el('img', { src: URL.createObjectURL(blob), alt: t('chat.map.picture'), class: 'map' });
        box.append(img);
      }).catch(() => {});
    }
  }

  /**
   * The address (and map picture) of a shared position arrived (`geo.address`).
   * @param {any} data
   */
  resolved(data) {
    if (!data || typeof data.message !== 'string') return;
    const box = /** @type {HTMLElement | null} */ (this.list.querySelector(`[data-geo="${CSS.escape(data.message)}"]`));
    if (box) this.fillGeo(box, data.display_name, data.preview, true);
    else this.early.set(data.message, data);
  }

  /**
   * @param {string} id
   * @param {string} name
   */
  fileView(id, name) {
    const box = el('div', { class: 'file' });
    const button = el('button', { type: 'button', class: 'link' }, icon('download'), name);
    button.setAttribute('aria-label', `${t('chat.download')}: ${name}`);
    // An image is fetched once, for its preview; its download reuses that copy.
    /** @type {Promise<Blob> | null} */
    let fetched = IMAGE.test(name) ? download(id, { token: this.token }) : null;
    button.addEventListener('click', async () => {
      try {
        const blob = await (fetched || download(id, { token: this.token }));
        const a = el('a', { href: URL.createObjectURL(blob), download: name });
        document.body.append(a);
        a.click();
        a.remove();
      } catch (_) {
        fetched = null;
        this.notice(t('chat.failed', { name }));
      }
    });
    box.append(button);
    if (fetched) {
      fetched.then((blob) => {
        const url = URL.createObjectURL(blob);
        const open = el('button', { type: 'button', class: 'preview-open', 'aria-label': `${t('chat.open')}: ${name}`, title: t('chat.open') },
          el('img', { src: url, alt: name, class: 'preview', loading: 'lazy' }));
        open.addEventListener('click', () => this.viewFull(url, name));
        box.prepend(open);
      }).catch(() => { fetched = null; });
    }
    return box;
  }

  /**
   * A picture at full size over the page (a screenshot the agent drew on, a photo).
   * @param {string} url
   * @param {string} name
   */
  viewFull(url, name) {
    const close = el('button', { type: 'button', class: 'icon viewer-close', 'aria-label': t('chat.close'), title: t('chat.close') }, icon('close'));
    const box = el('div', { class: 'viewer' }, el('img', { src: url, alt: name }), close);
    const layer = openOverlay(box, { label: name });
    close.addEventListener('click', () => layer.close());
  }

  async sendText() {
    const text = this.input.value.trim();
    if (!text) return;
    this.sendButton.disabled = true;
    try {
      /** @type {ChatMessage} */
      const m = await call(`/api/interactions/${encodeURIComponent(this.interaction)}/messages`, { body: { text }, token: this.token });
      this.input.value = '';
      this.add(m);
    } catch (err) {
      this.notice(err instanceof Error ? err.message : t('error.generic'));
    } finally {
      this.sendButton.disabled = false;
      this.input.focus();
    }
  }

  /** @param {File} file */
  async sendFile(file) {
    if (file.size > MAX_FILE) {
      this.notice(t('chat.too.big', { name: file.name }));
      return;
    }
    const controller = new AbortController();
    const bar = el('progress', { max: 100, value: 0 });
    const label = el('span', {}, t('chat.uploading', { name: file.name, percent: 0 }));
    const cancel = el('button', { type: 'button', class: 'small' }, t('chat.cancel'));
    cancel.addEventListener('click', () => controller.abort());
    const row = el('div', { class: 'upload', role: 'status' }, label, bar, cancel);
    this.uploads.append(row);
    try {
      await upload(this.interaction, file, {
        token: this.token,
        signal: controller.signal,
        onProgress: (sent, total) => {
          const percent = total ? Math.floor((sent * 100) / total) : 0;
          bar.value = percent;
          label.textContent = t('chat.uploading', { name: file.name, percent });
        },
      });
      // The message itself arrives over the live socket (chat.message).
    } catch (err) {
      if (!(err instanceof DOMException && err.name === 'AbortError')) this.notice(t('chat.failed', { name: file.name }));
    } finally {
      row.remove();
    }
  }

  /** @param {string} text */
  notice(text) {
    const n = el('div', { class: 'notice', role: 'alert' }, text);
    this.uploads.append(n);
    setTimeout(() => n.remove(), 6000);
  }
}
if (!customElements.get('vchat-chat')) customElements.define('vchat-chat', Chat);
