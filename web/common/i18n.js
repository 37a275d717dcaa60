// The pages' words in Russian and English: one dictionary per language in `i18n/`,
// Russian unless the browser prefers English or the person chose otherwise.

import { el } from './dom.js';
import { en } from './i18n/en.js';
import { ru } from './i18n/ru.js';

/** @typedef {'ru' | 'en'} Language */

/** @type {Record<Language, Record<string, string>>} */
export const DICTIONARIES = { ru, en };
const STORED = 'vchat-language';
/** @type {Language} */
let current = 'ru';

/**
 * The language to show: the person's earlier choice, else `preferred` (the tenant's
 * or the call's), else the browser's, else Russian.
 * @param {string | null} [preferred]
 * @returns {Language}
 */
export function chooseLanguage(preferred) {
  /** @type {string | null} */
  let stored = null;
  try {
    stored = localStorage.getItem(STORED);
  } catch (_) {
    stored = null;
  }
  const wanted = stored || preferred || (navigator.languages || [navigator.language || 'ru'])[0] || 'ru';
  current = String(wanted).toLowerCase().startsWith('en') ? 'en' : 'ru';
  document.documentElement.lang = current;
  return current;
}

/**
 * Switches to `language` and remembers the choice.
 * @param {Language} language
 */
export function setLanguage(language) {
  current = language;
  document.documentElement.lang = language;
  try {
    localStorage.setItem(STORED, language);
  } catch (_) {
    // private mode: the choice lasts for this page only
  }
}

/** @returns {Language} */
export function language() {
  return current;
}

/**
 * The text of `key` with `{name}` filled from `vars`.
 * @param {string} key
 * @param {Record<string, string | number>} [vars]
 * @returns {string}
 */
export function t(key, vars) {
  const text = DICTIONARIES[current][key] || DICTIONARIES.ru[key] || key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/**
 * Fills `[data-t]` (text), `[data-t-placeholder]`, `[data-t-label]` (aria-label and
 * title) under `root`.
 * @param {ParentNode} root
 */
export function translate(root) {
  root.querySelectorAll('[data-t]').forEach((e) => {
    e.textContent = t(/** @type {string} */ (e.getAttribute('data-t')));
  });
  root.querySelectorAll('[data-t-placeholder]').forEach((e) => {
    e.setAttribute('placeholder', t(/** @type {string} */ (e.getAttribute('data-t-placeholder'))));
  });
  root.querySelectorAll('[data-t-label]').forEach((e) => {
    const text = t(/** @type {string} */ (e.getAttribute('data-t-label')));
    e.setAttribute('aria-label', text);
    e.setAttribute('title', text);
  });
}

/**
 * A date and time for people, in the page's language.
 * @param {number} ms Unix ms.
 * @returns {string}
 */
export function formatTime(ms) {
  return new Date(ms).toLocaleString(current === 'ru' ? 'ru-RU' : 'en-GB', {
    day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
  });
}

/**
 * The button that switches to the other language (named in that language), then
 * calls `onChange` to draw the page again.
 * @param {() => void} onChange
 * @param {string} [className]
 * @returns {HTMLButtonElement}
 */
export function languageSwitch(onChange, className = 'link small') {
  const other = current === 'en' ? 'ru' : 'en';
  const b = el('button', { type: 'button', class: className, lang: other }, other === 'en' ? 'English' : 'Русский');
  b.addEventListener('click', () => {
    setLanguage(other);
    onChange();
  });
  return b;
}
