// A modal layer over the page (a question, a picture at full size, the drawing
// editor): a plain element with role="dialog", not <dialog>, which Safari before 15.4
// lacks. Escape and a tap on the backdrop close it; focus goes in, and back after.

import { el } from './dom.js';

/**
 * @param {HTMLElement} content The dialog's box.
 * @param {{label?: string, labelledBy?: string, onClose?: () => void, backdropCloses?: boolean}} [o]
 * @returns {{root: HTMLElement, close: () => void}}
 */
export function openOverlay(content, o = {}) {
  const before = /** @type {HTMLElement | null} */ (document.activeElement);
  content.setAttribute('role', 'dialog');
  content.setAttribute('aria-modal', 'true');
  if (o.label) content.setAttribute('aria-label', o.label);
  if (o.labelledBy) content.setAttribute('aria-labelledby', o.labelledBy);
  content.tabIndex = -1;
  const root = el('div', { class: 'overlay' }, content);
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    document.removeEventListener('keydown', onKey);
    root.remove();
    if (before && before.isConnected) before.focus();
    if (o.onClose) o.onClose();
  };
  /** @param {KeyboardEvent} e */
  const onKey = (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      close();
    }
  };
  document.addEventListener('keydown', onKey);
  if (o.backdropCloses !== false) root.addEventListener('click', (e) => { if (e.target === root) close(); });
  document.body.append(root);
  const first = /** @type {HTMLElement | null} */ (content.querySelector('button, input, [tabindex]'));
  (first || content).focus();
  return { root, close };
}

/**
 * A picture (a Blob) decoded as an image element.
 * @param {Blob} blob
 * @returns {Promise<HTMLImageElement>}
 */
export function loadImage(blob) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('not a picture'));
    img.src = URL.createObjectURL(blob);
  });
}
