// The call page: camera and microphone in, everyone else's video and sound out, chat.
//
// Tests drive it through `window.vchatRoom` (the session and its peer connection).

import { byId, el } from '../common/dom.js';
import { chooseLanguage } from '../common/i18n.js';
import { Tile } from '../common/tile.js';
import { Session } from '../sdk/session.js';

chooseLanguage(null);


const tiles = byId('tiles');
const status = byId('status');
const banner = byId('banner');
/** @type {Map<string, Tile>} */
const tileOf = new Map();

/** @param {string} text */
function setStatus(text) {
  status.textContent = text;
}

/** @param {string} text */
function showBanner(text) {
  banner.textContent = text;
  banner.classList.toggle('hidden', !text);
}

/**
 * @param {string} id
 * @param {string} name
 * @returns {Tile}
 */
function tileFor(id, name) {
  let tile = tileOf.get(id);
  if (!tile) {
    tile = /** @type {Tile} */ (document.createElement('vchat-tile'));
    tile.dataset.participant = id;
    tiles.append(tile);
    tileOf.set(id, tile);
  }
  if (name) tile.name = name;
  return tile;
}

/** @param {string} id */
function dropTile(id) {
  const tile = tileOf.get(id);
  if (tile) tile.remove();
  tileOf.delete(id);
}

/**
 * @param {string} from
 * @param {string} text
 */
function addChatLine(from, text) {
  const list = byId('messages');
  list.append(el('li', {}, el('b', {}, `${from}: `), text));
  list.scrollTop = list.scrollHeight;
}

function tokenFromLocation() {
  const params = new URLSearchParams(location.hash.slice(1));
  return params.get('token');
}

async function main() {
  const token = tokenFromLocation();
  if (!token) {
    showBanner('This link has no join token. Ask for a new link.');
    setStatus('No token');
    return;
  }

  /** @type {MediaStream} */
  let local;
  try {
    local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
  } catch (err) {
    showBanner('Camera or microphone unavailable; you join without them.');
    local = new MediaStream();
  }

  const session = new Session({ token });
  /** @type {any} */ (window).vchatRoom = { session, local };

  session.addEventListener('welcome', (e) => {
    const { participant, room, participants } = /** @type {CustomEvent} */ (e).detail;
    byId('room').textContent = `Room ${room}`;
    const self = tileFor(participant.id, `${participant.name} (you)`);
    self.dataset.self = '';
    self.video.muted = true;
    for (const track of local.getTracks()) self.addTrack(track);
    for (const p of participants) tileFor(p.id, p.name);
    setStatus('Connecting…');
  });
  session.addEventListener('participant-joined', (e) => {
    const { participant } = /** @type {CustomEvent} */ (e).detail;
    tileFor(participant.id, participant.name);
  });
  session.addEventListener('participant-left', (e) => {
    dropTile(/** @type {CustomEvent} */ (e).detail.participant.id);
  });
  session.addEventListener('track', (e) => {
    const { participant, track } = /** @type {CustomEvent} */ (e).detail;
    const known = session.participants.get(participant);
    tileFor(participant, known ? known.name : '').addTrack(track);
  });
  session.addEventListener('connection', (e) => {
    /** @type {string} */
    const state = /** @type {CustomEvent} */ (e).detail.state;
    /** @type {Record<string, string>} */
    const words = { connected: 'Connected', connecting: 'Connecting…', disconnected: 'Reconnecting…', failed: 'Connection failed' };
    setStatus(words[state] || state);
  });
  session.addEventListener('message', (e) => {
    const { from, data } = /** @type {CustomEvent} */ (e).detail;
    if (typeof data !== 'string') return;
    try {
      const message = JSON.parse(data);
      if (message.type === 'chat' && typeof message.text === 'string') {
        const sender = session.participants.get(from);
        addChatLine(sender ? sender.name : from, message.text);
      }
    } catch (_) {
      // Not ours to show.
    }
  });
  session.addEventListener('error', (e) => console.warn('vchat:', /** @type {CustomEvent} */ (e).detail));
  session.addEventListener('closed', (e) => {
    const { code, reason } = /** @type {CustomEvent} */ (e).detail;
    setStatus('Call ended');
    if (code !== 1000) showBanner(`The call ended: ${reason} (${code}).`);
  });
  tiles.addEventListener('autoplay-blocked', () => byId('sound').classList.remove('hidden'));

  for (const track of local.getTracks()) session.publish(track, local);
  try {
    await session.join();
  } catch (err) {
    showBanner(err instanceof Error ? err.message : String(err));
    return;
  }

  const mic = byId('mic');
  mic.addEventListener('click', () => {
    const on = mic.getAttribute('aria-pressed') !== 'true';
    for (const t of local.getAudioTracks()) t.enabled = !on;
    mic.setAttribute('aria-pressed', String(on));
    mic.textContent = on ? 'Unmute' : 'Mute';
  });
  const cam = byId('cam');
  cam.addEventListener('click', () => {
    const on = cam.getAttribute('aria-pressed') !== 'true';
    for (const t of local.getVideoTracks()) t.enabled = !on;
    cam.setAttribute('aria-pressed', String(on));
    cam.textContent = on ? 'Start video' : 'Stop video';
  });
  byId('sound').addEventListener('click', () => {
    for (const tile of tileOf.values()) tile.video.play().catch(() => {});
    byId('sound').classList.add('hidden');
  });
  byId('leave').addEventListener('click', () => {
    session.leave();
    for (const t of local.getTracks()) t.stop();
  });
  byId('chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = /** @type {HTMLInputElement} */ (byId('chat-input'));
    const text = input.value.trim();
    if (!text) return;
    if (session.send(JSON.stringify({ type: 'chat', text }))) {
      addChatLine('You', text);
      input.value = '';
    }
  });
  window.addEventListener('pagehide', () => session.leave());
}

main();
