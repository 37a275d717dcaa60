// Drawing on a screenshot: pen, arrow, rectangle and text in a few colours, undo, redo
// and clear, at the picture's full resolution (what is drawn lands where it was drawn
// whatever the window's size). "Send" makes a JPEG of picture and drawing together.
//
// The drawing is a list of actions (a shape, or "clear") replayed onto the picture;
// undo moves the last action to the redo list.

import { el } from '../common/dom.js';
import { t } from '../common/i18n.js';
import { icon } from '../common/icons.js';
import { openOverlay } from '../common/overlay.js';

/** @typedef {'pen' | 'arrow' | 'rect' | 'text'} Tool */
/**
 * @typedef {{tool: 'pen', color: string, width: number, points: number[][]}
 *   | {tool: 'arrow' | 'rect', color: string, width: number, from: number[], to: number[]}
 *   | {tool: 'text', color: string, size: number, at: number[], text: string}
 *   | {tool: 'clear'}} Action
 */

export const COLORS = /** @type {Record<string, string>} */ ({
  red: '#ff3b30', yellow: '#ffcc00', green: '#34c759', blue: '#0a84ff', white: '#ffffff', black: '#000000',
});

export class Annotator {
  /**
   * @param {{image: HTMLImageElement, width: number, height: number, onSend: (jpeg: Blob) => Promise<void>, onClose?: () => void, name?: string}} o
   */
  constructor(o) {
    this.o = o;
    /** @type {Action[]} */
    this.actions = [];
    /** @type {Action[]} */
    this.undone = [];
    /** @type {Tool} */
    this.tool = 'arrow';
    this.color = COLORS.red;
    /** The shape being drawn. @type {Action | null} */
    this.drawing = null;
    this.line = Math.max(3, Math.round(o.width / 200));

    this.canvas = /** @type {HTMLCanvasElement} */ (el('canvas', { class: 'draw-canvas', 'aria-label': t('draw.title') }));
    this.canvas.width = o.width;
    this.canvas.height = o.height;
    this.textInput = /** @type {HTMLInputElement} */ (el('input', { type: 'text', class: 'draw-text hidden', maxlength: 200, placeholder: t('draw.text.placeholder'), 'aria-label': t('draw.text') }));
    /** @type {number[] | null} */
    this.textAt = null;

    /** @type {Record<string, HTMLButtonElement>} */
    this.toolButtons = {};
    const tools = el('div', { class: 'draw-tools', role: 'toolbar', 'aria-label': t('draw.tools') });
    for (const [name, label] of /** @type {[Tool, string][]} */ ([['pen', 'draw.pen'], ['arrow', 'draw.arrow'], ['rect', 'draw.rect'], ['text', 'draw.text']])) {
      const b = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', class: 'icon', 'data-tool': name, 'aria-label': t(label), title: t(label), 'aria-pressed': String(name === this.tool) }, icon(name)));
      b.addEventListener('click', () => this.pick(name));
      this.toolButtons[name] = b;
      tools.append(b);
    }
    const swatches = el('div', { class: 'swatches' });
    for (const [name, value] of Object.entries(COLORS)) {
      const b = el('button', { type: 'button', class: 'swatch', 'data-color': name, 'aria-label': t('draw.color', { name: t(`color.${name}`) }), title: t(`color.${name}`), 'aria-pressed': String(value === this.color) });
      b.style.setProperty('--swatch', value);
      b.addEventListener('click', () => {
        this.color = value;
        swatches.querySelectorAll('.swatch').forEach((s) => s.setAttribute('aria-pressed', String(s === b)));
      });
      swatches.append(b);
    }
    this.undoButton = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', class: 'icon', 'data-action': 'undo', 'aria-label': t('draw.undo'), title: t('draw.undo') }, icon('undo')));
    this.redoButton = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', class: 'icon', 'data-action': 'redo', 'aria-label': t('draw.redo'), title: t('draw.redo') }, icon('redo')));
    this.clearButton = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', class: 'icon', 'data-action': 'clear', 'aria-label': t('draw.clear'), title: t('draw.clear') }, icon('trash')));
    this.undoButton.addEventListener('click', () => this.undo());
    this.redoButton.addEventListener('click', () => this.redo());
    this.clearButton.addEventListener('click', () => this.add({ tool: 'clear' }));
    tools.append(swatches, this.undoButton, this.redoButton, this.clearButton);

    this.status = el('p', { class: 'draw-status small', role: 'status' });
    this.sendButton = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', class: 'primary', id: 'draw-send' }, icon('send'), t('draw.send')));
    const close = el('button', { type: 'button', class: '' }, t('draw.close'));
    const save = el('button', { type: 'button', class: 'link' }, icon('download'), t('draw.download'));
    this.sendButton.addEventListener('click', () => this.send());
    close.addEventListener('click', () => this.close());
    save.addEventListener('click', () => this.save());
    this.box = el('div', { class: 'annotator' },
      el('header', {}, el('h2', { id: 'draw-title' }, t('draw.title')), el('span', { class: 'muted small' }, `${o.width}×${o.height}`)),
      tools,
      el('div', { class: 'draw-box' }, this.canvas, this.textInput),
      el('footer', {}, this.status, save, close, this.sendButton));
    /** @type {{root: HTMLElement, close: () => void} | null} */
    this.layer = null;
    this.box.addEventListener('keydown', (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'z' && e.target !== this.textInput) {
        e.preventDefault();
        if (e.shiftKey) this.redo();
        else this.undo();
      }
    });
    this.canvas.addEventListener('pointerdown', (e) => this.down(e));
    this.canvas.addEventListener('pointermove', (e) => this.moveTo(e));
    this.canvas.addEventListener('pointerup', (e) => this.up(e));
    this.canvas.addEventListener('pointercancel', () => { this.drawing = null; this.render(); });
    this.textInput.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        this.commitText();
      } else if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        this.hideText();
      }
    });
    this.textInput.addEventListener('blur', () => this.commitText());
    /** @type {any} */ (window).vchatAnnotator = this;
  }

  open() {
    this.layer = openOverlay(this.box, { labelledBy: 'draw-title', backdropCloses: false, onClose: () => this.o.onClose && this.o.onClose() });
    this.render();
  }

  close() {
    if (this.layer) this.layer.close();
    this.layer = null;
  }

  /** @param {Tool} tool */
  pick(tool) {
    this.commitText();
    this.tool = tool;
    for (const [name, b] of Object.entries(this.toolButtons)) b.setAttribute('aria-pressed', String(name === tool));
    this.canvas.dataset.tool = tool;
  }

  /** A viewport point in picture pixels. @param {PointerEvent} e @returns {number[]} */
  spot(e) {
    const r = this.canvas.getBoundingClientRect();
    return [
      Math.round(((e.clientX - r.left) * this.canvas.width) / r.width),
      Math.round(((e.clientY - r.top) * this.canvas.height) / r.height),
    ];
  }

  /** @param {PointerEvent} e */
  down(e) {
    e.preventDefault();
    const p = this.spot(e);
    if (this.tool === 'text') {
      this.showText(p, e);
      return;
    }
    this.canvas.setPointerCapture(e.pointerId);
    if (this.tool === 'pen') this.drawing = { tool: 'pen', color: this.color, width: this.line, points: [p] };
    else this.drawing = { tool: this.tool, color: this.color, width: this.line, from: p, to: p };
    this.render();
  }

  /** @param {PointerEvent} e */
  moveTo(e) {
    const d = this.drawing;
    if (!d) return;
    const p = this.spot(e);
    if (d.tool === 'pen') d.points.push(p);
    else if (d.tool === 'arrow' || d.tool === 'rect') d.to = p;
    this.render();
  }

  /** @param {PointerEvent} e */
  up(e) {
    const d = this.drawing;
    if (!d) return;
    this.moveTo(e);
    this.drawing = null;
    const tiny = (d.tool === 'arrow' || d.tool === 'rect') && Math.hypot(d.to[0] - d.from[0], d.to[1] - d.from[1]) < 4;
    if (!tiny) this.add(d);
    else this.render();
  }

  /** @param {number[]} p @param {PointerEvent} e */
  showText(p, e) {
    this.commitText();
    this.textAt = p;
    const box = /** @type {HTMLElement} */ (this.canvas.parentElement).getBoundingClientRect();
    this.textInput.style.left = `${e.clientX - box.left}px`;
    this.textInput.style.top = `${e.clientY - box.top}px`;
    this.textInput.style.color = this.color;
    this.textInput.value = '';
    this.textInput.classList.remove('hidden');
    this.textInput.focus();
  }

  commitText() {
    const text = this.textInput.value.trim();
    const at = this.textAt;
    this.hideText();
    if (text && at) this.add({ tool: 'text', color: this.textInput.style.color || this.color, size: Math.max(18, Math.round(this.canvas.height / 18)), at, text });
  }

  hideText() {
    this.textAt = null;
    this.textInput.value = '';
    this.textInput.classList.add('hidden');
  }

  /** @param {Action} a */
  add(a) {
    this.actions.push(a);
    this.undone = [];
    this.render();
  }

  undo() {
    const a = this.actions.pop();
    if (a) this.undone.push(a);
    this.render();
  }

  redo() {
    const a = this.undone.pop();
    if (a) this.actions.push(a);
    this.render();
  }

  /** The shapes shown now (after the last clear). */
  shapes() {
    const all = this.drawing ? [...this.actions, this.drawing] : this.actions;
    const last = all.map((a) => a.tool).lastIndexOf('clear');
    return all.slice(last + 1);
  }

  render() {
    const g = this.canvas.getContext('2d');
    if (!g) return;
    g.drawImage(this.o.image, 0, 0, this.canvas.width, this.canvas.height);
    for (const s of this.shapes()) draw(g, s);
    this.undoButton.disabled = !this.actions.length;
    this.redoButton.disabled = !this.undone.length;
    this.clearButton.disabled = !this.shapes().length;
  }

  /** @returns {Promise<Blob>} */
  jpeg() {
    this.commitText();
    this.drawing = null;
    this.render();
    return new Promise((resolve, reject) => this.canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('no picture'))), 'image/jpeg', 0.92));
  }

  async send() {
    this.sendButton.disabled = true;
    this.status.textContent = '';
    try {
      await this.o.onSend(await this.jpeg());
      this.close();
    } catch (err) {
      this.status.textContent = err instanceof Error && err.message ? err.message : t('tools.failed');
      this.sendButton.disabled = false;
    }
  }

  async save() {
    const blob = await this.jpeg();
    const a = el('a', { href: URL.createObjectURL(blob), download: this.o.name || 'screenshot.jpg' });
    document.body.append(a);
    a.click();
    a.remove();
  }
}

/**
 * @param {CanvasRenderingContext2D} g
 * @param {Action} s
 */
function draw(g, s) {
  if (s.tool === 'clear') return;
  g.save();
  g.lineCap = 'round';
  g.lineJoin = 'round';
  // A dark edge keeps every colour visible on any picture.
  g.shadowColor = 'rgba(0, 0, 0, 0.6)';
  g.shadowBlur = 3;
  if (s.tool === 'text') {
    g.fillStyle = s.color;
    g.font = `600 ${s.size}px system-ui, sans-serif`;
    g.textBaseline = 'top';
    g.fillText(s.text, s.at[0], s.at[1]);
  } else {
    g.strokeStyle = s.color;
    g.fillStyle = s.color;
    g.lineWidth = s.width;
    g.beginPath();
    if (s.tool === 'pen') {
      const [first, ...rest] = s.points;
      g.moveTo(first[0], first[1]);
      for (const p of rest) g.lineTo(p[0], p[1]);
      if (!rest.length) g.lineTo(first[0] + 0.1, first[1]);
      g.stroke();
    } else if (s.tool === 'rect') {
      g.strokeRect(Math.min(s.from[0], s.to[0]), Math.min(s.from[1], s.to[1]), Math.abs(s.to[0] - s.from[0]), Math.abs(s.to[1] - s.from[1]));
    } else {
      const [x0, y0] = s.from;
      const [x1, y1] = s.to;
      const angle = Math.atan2(y1 - y0, x1 - x0);
      const head = s.width * 4;
      g.moveTo(x0, y0);
      g.lineTo(x1 - Math.cos(angle) * head * 0.8, y1 - Math.sin(angle) * head * 0.8);
      g.stroke();
      g.beginPath();
      g.moveTo(x1, y1);
      g.lineTo(x1 - head * Math.cos(angle - 0.45), y1 - head * Math.sin(angle - 0.45));
      g.lineTo(x1 - head * Math.cos(angle + 0.45), y1 - head * Math.sin(angle + 0.45));
      g.closePath();
      g.fill();
    }
  }
  g.restore();
}
