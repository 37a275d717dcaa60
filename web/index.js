// The landing page: create a room through the REST API, hand out its links.

const TOKEN_KEY = 'vchat.apiToken';

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing`);
  return element;
}

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
    const response = await fetch('/api/rooms', {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${tokenInput.value.trim()}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ participants: names.map((name) => ({ name })) }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.message || response.statusText);
    showRoom(body);
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
    const item = document.createElement('li');
    const name = document.createElement('b');
    name.textContent = p.name;
    const link = document.createElement('a');
    link.href = p.join_url;
    link.textContent = p.join_url;
    link.target = '_blank';
    link.rel = 'noopener';
    const row = document.createElement('div');
    row.className = 'row';
    const copy = document.createElement('button');
    copy.type = 'button';
    copy.textContent = 'Copy link';
    copy.addEventListener('click', () => {
      navigator.clipboard.writeText(p.join_url).then(() => { copy.textContent = 'Copied'; }, () => {});
    });
    row.append(copy);
    item.append(name, document.createElement('br'), link, row);
    list.append(item);
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
