// The landing page: create a room through the REST API, hand out its links.

import { byId, el } from './common/dom.js';
import { call } from './sdk/api.js';

const TOKEN_KEY = 'vchat.apiToken';

const tokenInput = /** @type {HTMLInputElement} */ (byId('api-token'));
tokenInput.value = localStorage.getItem(TOKEN_KEY) || '';

byId('create').addEventListener('submit', async (e) => {
  e.preventDefault();
  const error = byId('create-error');
  error.textContent = '';
  const names = /** @type {HTMLTextAreaElement} */ (byId('names')).value
    .split('\n').map((n) => n.trim()).filter(Boolean);
  localStorage.setItem(TOKEN_KEY, tokenInput.value);
  try {
    const room = await call('/api/rooms', {
      token: tokenInput.value.trim(),
      body: { participants: names.map((name) => ({ name })) },
    });
    showRoom(room);
  } catch (err) {
    error.textContent = `Could not create the room: ${err instanceof Error ? err.message : err}`;
  }
});

/** @param {{room: string, participants: {name: string, join_url: string}[]}} room */
function showRoom(room) {
  byId('room-id').textContent = room.room;
  const list = byId('links');
  list.replaceChildren();
  for (const p of room.participants) {
    const copy = el('button', { type: 'button' }, 'Copy link');
    copy.addEventListener('click', () => {
      navigator.clipboard.writeText(p.join_url).then(() => { copy.textContent = 'Copied'; }, () => {});
    });
    const link = el('a', { href: p.join_url, target: '_blank', rel: 'noopener' }, p.join_url);
    list.append(el('li', {}, el('b', {}, p.name), el('br'), link, el('div', { class: 'row' }, copy)));
  }
  byId('result').classList.remove('hidden');
}

byId('join').addEventListener('submit', (e) => {
  e.preventDefault();
  const value = /** @type {HTMLInputElement} */ (byId('link')).value.trim();
  try {
    const url = new URL(value, location.href);
    location.href = `/room/${url.hash}`;
  } catch (_) {
    location.href = `/room/#token=${encodeURIComponent(value)}`;
  }
});
