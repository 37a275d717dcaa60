// The client's page, `/j/<code>`: phones first. Who calls and the consent; nothing is
// captured before "Continue"; the device check, sent to the agent; "Connect"; the
// call (shared call screen, chat, reconnecting by itself); the survey; the redirect.
//
// State changes only through `update(state, event)`; `render` draws from state.

import { CallScreen, QUALITY_HEIGHT } from '../call/call.js';
import { frameJpeg, stillFromCamera } from '../call/capture.js';
import { icon } from '../common/icons.js';
import { openOverlay } from '../common/overlay.js';
import { Chat } from '../common/chat.js';
import { DeviceCheckView, checkDevices } from '../common/devices.js';
import { byId, el } from '../common/dom.js';
import { chooseLanguage, formatTime, languageSwitch, t } from '../common/i18n.js';
import { ApiError, call, screenshot } from '../sdk/api.js';
import { LiveEvents } from '../sdk/live.js';

/**
 * @typedef {'loading' | 'gone' | 'welcome' | 'checking' | 'ready' | 'call' | 'left' | 'ended' | 'thanks'} Screen
 * @typedef {object} State
 * @property {Screen} screen
 * @property {any} info What `GET /api/links/{code}` said.
 * @property {any} opened What `POST /api/links/{code}` said (the join token).
 * @property {import('../common/devices.js').DeviceCheck | null} check
 * @property {string} error A message for the person, or ''.
 * @property {boolean} agreed
 * @property {boolean} surveyed
 * @property {string} goneText
 */

/**
 * @typedef {{type: 'loaded', info: any} | {type: 'gone', text: string} | {type: 'agree', agreed: boolean}
 *   | {type: 'opened', opened: any} | {type: 'checked', check: import('../common/devices.js').DeviceCheck}
 *   | {type: 'connect'} | {type: 'left'} | {type: 'ended'} | {type: 'surveyed'} | {type: 'error', text: string}} AppEvent
 */

const code = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || '');
const root = byId('app');

/** @type {State} */
let state = { screen: 'loading', info: null, opened: null, check: null, error: '', agreed: false, surveyed: false, goneText: '' };
/** @type {MediaStream | null} */
let media = null;
/** @type {CallScreen | null} */
let screen = null;
/** @type {Chat | null} */
let chat = null;
/** @type {LiveEvents | null} */
let live = null;
/** What the last still was (tests read it). @type {any} */
let lastStill = null;
/** Whether the position went out at connect already. */
let sharedAtConnect = false;

/**
 * @param {State} s
 * @param {AppEvent} e
 * @returns {State}
 */
export function update(s, e) {
  switch (e.type) {
    case 'loaded':
      return { ...s, info: e.info, screen: e.info.state === 'ended' ? 'ended' : 'welcome', agreed: e.info.opened_here };
    case 'gone':
      return { ...s, screen: 'gone', goneText: e.text };
    case 'agree':
      return { ...s, agreed: e.agreed };
    case 'opened':
      return { ...s, opened: e.opened, screen: 'checking', error: '' };
    case 'checked':
      return { ...s, check: e.check, screen: 'ready' };
    case 'connect':
      return { ...s, screen: 'call' };
    case 'left':
      return s.screen === 'ended' || s.screen === 'thanks' ? s : { ...s, screen: 'left' };
    case 'ended':
      return s.screen === 'thanks' ? s : { ...s, screen: 'ended' };
    case 'surveyed':
      return { ...s, surveyed: true, screen: 'thanks' };
    case 'error':
      return { ...s, error: e.text };
  }
  return s;
}

/** @param {AppEvent} e */
function dispatch(e) {
  const before = state.screen;
  state = update(state, e);
  if (state.screen !== before || e.type === 'error' || e.type === 'agree' || e.type === 'loaded') render();
}

function token() {
  return state.opened ? state.opened.token : '';
}

/** @param {string} path @param {unknown} body */
function report(path, body) {
  if (!state.info) return Promise.resolve();
  return call(`/api/interactions/${encodeURIComponent(state.info.interaction)}/${path}`, { body, token: token() }).catch(() => {});
}

/** @param {unknown} err */
function message(err) {
  if (err instanceof ApiError) {
    if (err.status === 410) return t('client.elsewhere');
    if (err.status === 0) return t('app.offline');
  }
  return t('error.generic');
}

function brand() {
  const info = state.info;
  if (!info) return el('div');
  if (info.color) document.documentElement.style.setProperty('--brand', info.color);
  const logo = info.logo_url ? el('img', { src: info.logo_url, alt: info.company, class: 'logo' }) : null;
  return el('header', { class: 'brand' }, logo || el('span', { class: 'logo-text' }, info.company),
    languageSwitch(render, 'link small lang'));
}

function errorLine() {
  return state.error ? el('p', { class: 'error', role: 'alert' }, state.error) : el('span');
}

function render() {
  document.title = state.info ? `${state.info.company} — ${t('client.title')}` : t('client.title');
  if (state.screen === 'call') return; // the call screen draws itself
  root.classList.remove('call-screen', 'chat-open');
  const card = el('section', { class: 'card narrow' });
  switch (state.screen) {
    case 'loading':
      card.append(el('p', { class: 'center muted' }, t('app.loading')));
      break;
    case 'gone':
      card.append(el('h1', {}, t('client.title')), el('p', {}, state.goneText));
      break;
    case 'welcome': {
      const info = state.info;
      card.append(el('h1', {}, t('client.from', { company: info.company })));
      if (info.scheduled_at) card.append(el('p', { class: 'muted' }, t('client.scheduled', { time: formatTime(info.scheduled_at) })));
      const go = el('button', { type: 'button', class: 'primary wide' }, t('client.continue'));
      if (info.opened_here) {
        card.append(el('p', {}, t('client.consent.none')));
      } else {
        card.append(el('h2', {}, t('client.consent.title')));
        card.append(el('p', { class: 'consent', id: 'consent-text' }, info.consent_text || t('client.consent.none')));
        const box = el('input', { type: 'checkbox', id: 'agree', 'aria-describedby': 'consent-text' });
        box.checked = state.agreed;
        box.addEventListener('change', () => dispatch({ type: 'agree', agreed: box.checked }));
        card.append(el('label', { class: 'check', for: 'agree' }, box, ' ', t('client.consent.agree')));
        go.disabled = !state.agreed;
      }
      go.addEventListener('click', () => consent(go));
      card.append(errorLine(), go);
      break;
    }
    case 'checking':
    case 'ready': {
      card.append(el('h1', {}, t('client.check.title')));
      const view = /** @type {DeviceCheckView} */ (document.createElement('vchat-device-check'));
      card.append(view);
      if (state.check) view.show(state.check);
      if (!window.isSecureContext) {
        // Browsers keep the camera and microphone from pages that are not secure.
        card.append(el('p', { class: 'error', id: 'insecure' }, t('client.check.insecure')));
      } else if (state.check && (state.check.camera === 'denied' || state.check.microphone === 'denied')) {
        card.append(el('p', { class: 'error' }, t('client.check.denied.help')));
      }
      const preview = el('video', { class: 'preview-video', autoplay: true, playsinline: true, muted: true, 'aria-label': t('call.you') });
      preview.muted = true;
      if (media && media.getVideoTracks().length) {
        preview.srcObject = media;
        preview.classList.toggle('mirror', state.info.camera !== 'back');
        card.append(preview);
      }
      const go = el('button', { type: 'button', class: 'primary wide', id: 'connect' }, t('client.connect'));
      go.disabled = state.screen !== 'ready';
      go.addEventListener('click', () => connect());
      card.append(errorLine(), go);
      if (state.screen === 'checking') runCheck(view);
      break;
    }
    case 'left': {
      card.append(el('h1', {}, t('client.left')));
      const again = el('button', { type: 'button', class: 'primary wide' }, t('client.rejoin'));
      again.addEventListener('click', () => {
        media = null;
        dispatch({ type: 'opened', opened: state.opened });
      });
      card.append(again);
      break;
    }
    case 'ended':
      card.append(el('h1', {}, t('client.ended')), el('p', {}, t('client.ended.text')));
      if (state.info && state.info.survey && state.info.survey.enabled && state.opened && !state.surveyed) card.append(survey());
      else redirect(card);
      break;
    case 'thanks':
      card.append(el('h1', {}, t('client.survey.thanks')));
      redirect(card);
      break;
  }
  root.replaceChildren(brand(), card);
  const focus = card.querySelector('h1');
  if (focus) /** @type {HTMLElement} */ (focus).setAttribute('tabindex', '-1');
}

function survey() {
  const s = state.info.survey;
  const form = el('form', { class: 'survey' });
  const question = el('legend', {}, s.question || t('client.survey.title'));
  const scores = el('fieldset', { class: 'scores' }, question, el('p', { class: 'muted small' }, t('client.survey.score')));
  for (let n = 1; n <= 5; n++) {
    const id = `score-${n}`;
    scores.append(el('input', { type: 'radio', name: 'score', value: n, id, required: true }), el('label', { for: id, class: 'score' }, String(n)));
  }
  form.append(scores);
  /** @type {HTMLTextAreaElement | null} */
  let comment = null;
  if (s.comment) {
    comment = el('textarea', { id: 'comment', rows: 3, maxlength: 2000 });
    form.append(el('label', { for: 'comment' }, t('client.survey.comment')), comment);
  }
  const send = el('button', { type: 'submit', class: 'primary wide' }, t('client.survey.send'));
  const skip = el('button', { type: 'button', class: 'link wide' }, t('client.survey.skip'));
  skip.addEventListener('click', () => dispatch({ type: 'surveyed' }));
  form.append(errorLine(), send, skip);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const picked = /** @type {HTMLInputElement | null} */ (form.querySelector('input[name=score]:checked'));
    if (!picked) return;
    send.disabled = true;
    /** @type {{score: number, comment?: string}} */
    const body = { score: Number(picked.value) };
    if (comment && comment.value.trim()) body.comment = comment.value.trim();
    try {
      await call(`/api/interactions/${encodeURIComponent(state.info.interaction)}/survey`, { body, token: token() });
      dispatch({ type: 'surveyed' });
    } catch (err) {
      send.disabled = false;
      // Answered already (another tab): thank them all the same.
      if (err instanceof ApiError && err.status === 409) dispatch({ type: 'surveyed' });
      else dispatch({ type: 'error', text: message(err) });
    }
  });
  return form;
}

/** @param {HTMLElement} card */
function redirect(card) {
  const url = state.info && state.info.redirect_url;
  if (!url) return;
  let site = url;
  try {
    site = new URL(url).host;
  } catch (_) {
    return;
  }
  card.append(el('p', { class: 'muted' }, t('client.redirect', { site })));
  setTimeout(() => location.assign(url), 3000);
}

/** @param {HTMLButtonElement} button */
async function consent(button) {
  button.disabled = true;
  try {
    const body = state.info.opened_here ? undefined : { consent: { version: state.info.consent_version } };
    const opened = await call(`/api/links/${encodeURIComponent(code)}`, { method: 'POST', body });
    dispatch({ type: 'opened', opened });
  } catch (err) {
    button.disabled = false;
    if (err instanceof ApiError && err.status === 409) {
      // The consent text changed meanwhile: show the new one.
      load();
      return;
    }
    dispatch({ type: 'error', text: message(err) });
  }
}

/** @param {DeviceCheckView} view */
async function runCheck(view) {
  const info = state.info;
  const { check, stream } = await checkDevices({
    video: true,
    facing: info.camera === 'back' ? 'back' : 'front',
    maxHeight: QUALITY_HEIGHT[info.max_quality] || 720,
    onLevel: (level) => view.level(level),
  });
  media = stream;
  report('client-check', check);
  dispatch({ type: 'checked', check });
}

async function connect() {
  dispatch({ type: 'connect' });
  const info = state.info;
  chat = /** @type {Chat} */ (document.createElement('vchat-chat'));
  chat.interaction = info.interaction;
  chat.token = token();
  chat.self = 'client';
  chat.classList.add('side');
  chat.locate = () => shareLocation(null);
  const shot = el('button', { type: 'button', class: 'icon tool', 'aria-label': t('call.shot.agent'), title: t('call.shot.agent') }, icon('shot'));
  shot.addEventListener('click', () => shootAgent(shot));
  let first = true;
  screen = new CallScreen(root, {
    role: 'client',
    sendVideo: true,
    facing: info.camera === 'back' ? 'back' : 'front',
    maxQuality: info.max_quality,
    stream: media || undefined,
    selfName: t('call.you'),
    chat,
    tools: [shot],
    onMessage: (_from, m) => {
      if (m.type === 'still.request') takeStill(m.id);
      if (m.type === 'geo.request') askLocation(m.id);
    },
    getToken: async () => {
      if (first) {
        first = false;
        return token();
      }
      const opened = await call(`/api/links/${encodeURIComponent(code)}`, { method: 'POST' });
      state.opened = opened;
      if (chat) chat.token = opened.token;
      return opened.token;
    },
    onPhase: async (phase) => {
      if (phase === 'connecting' || phase === 'connected' || phase === 'reconnecting' || phase === 'left') report('client-state', { state: phase });
      if (phase === 'connected' && info.geolocation_on_connect && !sharedAtConnect) {
        sharedAtConnect = true;
        shareLocation(null);
      }
      if (phase === 'connected' && state.check && screen) {
        const network = await screen.networkPath();
        if (network) report('client-check', { ...state.check, network });
      }
      if (phase === 'left') dispatch({ type: 'left' });
      if (phase === 'ended') dispatch({ type: 'ended' });
    },
  });
  report('client-state', { state: 'connecting' });
  chat.load().catch(() => {});
  startLive();
  await screen.start();
}

function startLive() {
  if (live) live.stop();
  live = new LiveEvents({ token: token() }).start();
  live.addEventListener('event', (e) => {
    const { event, message: m } = /** @type {CustomEvent} */ (e).detail;
    if (event.kind === 'chat.message' && m && chat) chat.add(m);
    if (event.kind === 'geo.address' && chat) chat.resolved(event.data);
    if (event.kind === 'interaction.ended' || event.kind === 'interaction.failed' || event.kind === 'interaction.cancelled') {
      if (screen) screen.end('ended');
      dispatch({ type: 'ended' });
    }
  });
  live.addEventListener('ready', () => {
    if (chat) chat.load().catch(() => {});
  });
}

/** A screenshot of what the agent shows (their screen when shared), into the chat. @param {HTMLButtonElement} button */
async function shootAgent(button) {
  const picture = screen && screen.agentPicture();
  if (!screen || !picture) {
    if (screen) screen.flash(t('tools.novideo'));
    return;
  }
  button.disabled = true;
  try {
    const f = await frameJpeg(picture.video);
    const stored = await screenshot(state.info.interaction, f.blob, { source: picture.screen ? 'agent-screen' : 'agent-video', method: 'frame', send: true, token: token() });
    screen.flash(t('tools.saved', { width: stored.width, height: stored.height }));
  } catch (_) {
    screen.flash(t('tools.failed'));
  } finally {
    button.disabled = false;
  }
}

/** The agent asked for a still from this camera. @param {string} id */
async function takeStill(id) {
  if (!screen) return;
  const s = screen;
  const track = s.local.getVideoTracks()[0];
  if (!track || track.readyState !== 'live') {
    s.send({ type: 'still.failed', id, reason: 'no-camera' });
    return;
  }
  try {
    const still = await stillFromCamera(track, s.self.video);
    const stored = await screenshot(state.info.interaction, still.blob, { source: 'client-camera', method: still.method, token: token() });
    lastStill = { method: still.method, asked: still.asked, width: stored.width, height: stored.height, file: stored.file.id };
    s.send({ type: 'still.done', id, file: stored.file.id, method: still.method, width: stored.width, height: stored.height });
    s.flash(t('tools.photo.taken'));
  } catch (_) {
    s.send({ type: 'still.failed', id, reason: 'failed' });
  }
}

/** The agent asks where the client is: the client decides first, then the browser. @param {string} id */
function askLocation(id) {
  const share = el('button', { type: 'button', class: 'primary wide', id: 'geo-share' }, icon('pin'), t('geo.ask.share'));
  const later = el('button', { type: 'button', class: 'link wide', id: 'geo-later' }, t('geo.ask.later'));
  const box = el('div', { class: 'ask' }, el('h2', { id: 'geo-title' }, t('geo.ask.title')), el('p', {}, t('geo.ask.text')), share, later);
  let answered = false;
  const layer = openOverlay(box, {
    labelledBy: 'geo-title',
    backdropCloses: false,
    onClose: () => {
      if (!answered) refuseLocation(id, 'declined');
    },
  });
  share.addEventListener('click', () => {
    answered = true;
    layer.close();
    shareLocation(id);
  });
  later.addEventListener('click', () => layer.close());
}

/**
 * @param {string | null} request The agent's request, if it asked.
 * @param {string} reason
 */
function refuseLocation(request, reason) {
  if (request && screen) screen.send({ type: 'geo.refused', id: request, reason });
  if (screen && reason !== 'declined') screen.flash(t('geo.failed'));
}

/** Sends the device's position into the chat. @param {string | null} request */
function shareLocation(request) {
  if (!navigator.geolocation) {
    refuseLocation(request, 'unsupported');
    return;
  }
  if (screen) screen.flash(t('geo.sharing'));
  navigator.geolocation.getCurrentPosition(async (pos) => {
    const c = pos.coords;
    try {
      await call(`/api/interactions/${encodeURIComponent(state.info.interaction)}/geo`, {
        body: { lat: c.latitude, lon: c.longitude, accuracy: Math.min(1000000, Math.max(0, c.accuracy || 0)), at: Math.round(pos.timestamp || Date.now()) },
        token: token(),
      });
    } catch (_) {
      refuseLocation(request, 'unavailable');
    }
  }, (err) => {
    refuseLocation(request, err.code === 1 ? 'denied' : err.code === 3 ? 'timeout' : 'unavailable');
  }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 30000 });
}

async function load() {
  try {
    const info = await call(`/api/links/${encodeURIComponent(code)}`);
    chooseLanguage(info.language);
    dispatch({ type: 'loaded', info });
  } catch (err) {
    chooseLanguage(null);
    dispatch({ type: 'gone', text: err instanceof ApiError && err.status === 404 ? t('client.gone') : message(err) });
  }
}

/** @type {any} */ (window).vchatClient = { get state() { return state; }, get lastStill() { return lastStill; } };
load();
