// <vchat-chat>: an interaction's stored chat (`/api/interactions/{id}/messages`),
// with files up to 100 MB both ways (progress, cancel, image previews). History is
// read from the API (so it survives a reload); new messages arrive live from the
// page's events socket through `add`.

import { call, download, upload } from '../sdk/api.js';
import { el } from './dom.js';
import { formatTime, t } from './i18n.js';
import { icon } from './icons.js';

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
    if (!this.list.isConnected) this.append(el('h2', { class: 'visually-hidden' }, t('chat.title')), this.list, this.uploads, this.form);
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
    else if (m.geo && typeof m.geo.lat === 'number') {
      body.append(t('chat.position'), ' ', el('a', { href: m.geo.map_url, target: '_blank', rel: 'noopener' }, `${m.geo.lat.toFixed(5)}, ${m.geo.lon.toFixed(5)}`));
    } else body.append(m.text);
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
        box.prepend(el('img', { src: URL.createObjectURL(blob), alt: name, class: 'preview', loading: 'lazy' }));
      }).catch(() => { fetched = null; });
    }
    return box;
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
