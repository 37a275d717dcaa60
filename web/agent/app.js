// The agent's workspace, `/agent/` (desktop): sign in; the calls of today, scheduled,
// live and ended, changing live over the page's events socket; a new call with the
// tenant's custom fields; the link sent or copied, its delivery live; the call view;
// notes and fields after the call; door panels ringing (answer, reject) and the door
// button in an intercom call.
//
// State changes only through `update(state, event)`; `render` draws from state.

import { CallScreen, QUALITY_HEIGHT } from '../call/call.js';
import { Chat } from '../common/chat.js';
import { AgentTools } from './tools.js';
import { Ringing, doorControls } from './intercom.js';
import { byId, el } from '../common/dom.js';
import { icon } from '../common/icons.js';
import { chooseLanguage, formatTime, languageSwitch, t } from '../common/i18n.js';
import { signInForm, staffError } from '../common/signin.js';
import { call, pageUrl } from '../sdk/api.js';
import { LiveEvents } from '../sdk/live.js';

/**
 * @typedef {'today' | 'scheduled' | 'live' | 'ended' | 'all'} Tab
 * @typedef {object} State
 * @property {'loading' | 'signin' | 'work'} screen
 * @property {any} me
 * @property {any} tenant
 * @property {Tab} tab
 * @property {string} search
 * @property {any[]} items
 * @property {string | null} selected
 * @property {'detail' | 'create' | 'call'} panel
 * @property {any[]} timeline Events of the selected call.
 * @property {Record<string, string>} phase The client's last state by interaction.
 * @property {string} toast
 */

/**
 * @typedef {{type: 'signed-out'} | {type: 'signed-in', me: any, tenant: any} | {type: 'tab', tab: Tab}
 *   | {type: 'search', text: string} | {type: 'items', items: any[]} | {type: 'changed', item: any}
 *   | {type: 'select', id: string | null} | {type: 'panel', panel: State['panel']} | {type: 'timeline', events: any[]}
 *   | {type: 'event', event: any} | {type: 'toast', text: string} | {type: 'gone', id: string}} AppEvent
 */

const root = byId('app');
/** @type {State} */
let state = { screen: 'loading', me: null, tenant: null, tab: 'today', search: '', items: [], selected: null, panel: 'detail', timeline: [], phase: {}, toast: '' };
/** @type {LiveEvents | null} */
let live = null;
/** @type {AgentTools | null} */
let tools = null;
/** @type {CallScreen | null} */
let screen = null;
/** @type {Chat | null} */
let chat = null;
/** The interaction whose call view is open. @type {string | null} */
let inCall = null;
/** @type {ReturnType<typeof setTimeout> | null} */
let toastTimer = null;
const ringing = new Ringing({ onAnswered: (id) => answered(id), say: (text) => toast(text) });

const TABS = /** @type {Tab[]} */ (['today', 'live', 'scheduled', 'ended', 'all']);
const FINAL = ['ended', 'expired', 'failed', 'cancelled'];

/**
 * @param {State} s
 * @param {AppEvent} e
 * @returns {State}
 */
export function update(s, e) {
  switch (e.type) {
    case 'signed-out':
      return { ...s, screen: 'signin', me: null, items: [], selected: null };
    case 'signed-in':
      return { ...s, screen: 'work', me: e.me, tenant: e.tenant };
    case 'tab':
      return { ...s, tab: e.tab, items: [] };
    case 'search':
      return { ...s, search: e.text };
    case 'items':
      return { ...s, items: e.items };
    case 'changed': {
      const others = s.items.filter((i) => i.id !== e.item.id);
      const fits = belongs(s.tab, e.item);
      const items = fits ? [e.item, ...others].sort((a, b) => b.created_at - a.created_at) : others;
      return { ...s, items };
    }
    case 'gone':
      return { ...s, items: s.items.filter((i) => i.id !== e.id), selected: s.selected === e.id && s.panel !== 'call' ? null : s.selected };
    case 'select':
      return { ...s, selected: e.id, panel: 'detail', timeline: [] };
    case 'panel':
      return { ...s, panel: e.panel };
    case 'timeline':
      return { ...s, timeline: e.events };
    case 'event': {
      const ev = e.event;
      const phase = { ...s.phase };
      if (ev.kind === 'client.state' && ev.interaction) phase[ev.interaction] = ev.data.state;
      if (ev.kind === 'link.opened' && ev.interaction) phase[ev.interaction] = phase[ev.interaction] || 'opened';
      const timeline = ev.interaction === s.selected && !s.timeline.some((x) => x.id === ev.id) ? [...s.timeline, ev] : s.timeline;
      return { ...s, phase, timeline };
    }
    case 'toast':
      return { ...s, toast: e.text };
  }
  return s;
}

/**
 * Whether interaction `i` is listed under `tab`.
 * @param {Tab} tab
 * @param {any} i
 */
function belongs(tab, i) {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  switch (tab) {
    case 'today':
      return i.created_at >= midnight.getTime() || (i.scheduled_at && i.scheduled_at >= midnight.getTime() && i.scheduled_at < midnight.getTime() + 86400000);
    case 'scheduled':
      return i.state === 'scheduled';
    case 'live':
      return i.state === 'connected' || i.state === 'waiting';
    case 'ended':
      return FINAL.includes(i.state);
    default:
      return true;
  }
}

/** @param {AppEvent} e */
function dispatch(e) {
  state = update(state, e);
  if (e.type === 'event') {
    renderTimeline();
    renderList();
    return;
  }
  if (e.type === 'search' || e.type === 'items' || e.type === 'changed' || e.type === 'gone') {
    renderList();
    if (e.type === 'changed' && e.item.id === state.selected && state.panel === 'detail') renderPanel();
    return;
  }
  if (e.type === 'toast') {
    renderToast();
    return;
  }
  render();
}

/** @param {string} text */
function toast(text) {
  dispatch({ type: 'toast', text });
  if (toastTimer) clearTimeout(toastTimer);
  toastTimer = setTimeout(() => dispatch({ type: 'toast', text: '' }), 3000);
}

function render() {
  document.title = t('agent.title');
  if (state.screen === 'loading') {
    root.replaceChildren(el('p', { class: 'center muted' }, t('app.loading')));
    return;
  }
  if (state.screen === 'signin') {
    renderSignIn();
    return;
  }
  renderWork();
}

function renderSignIn() {
  root.replaceChildren(signInForm({ onSignedIn: signedIn, onLanguage: render }));
}

/** @type {HTMLElement} */
let listBox = el('div');
/** @type {HTMLElement} */
let panelBox = el('div');
/** @type {HTMLElement} */
let toastBox = el('div');

function renderWork() {
  const tabs = el('nav', { class: 'tabs', 'aria-label': t('agent.title') });
  for (const tab of TABS) {
    const b = el('button', { type: 'button', class: 'tab', 'aria-pressed': String(state.tab === tab) }, t(`agent.tab.${tab}`));
    b.addEventListener('click', () => {
      dispatch({ type: 'tab', tab });
      loadList();
    });
    tabs.append(b);
  }
  const search = el('input', { type: 'search', placeholder: t('agent.search'), 'aria-label': t('agent.search'), value: state.search });
  search.addEventListener('input', () => dispatch({ type: 'search', text: search.value }));
  const create = el('button', { type: 'button', class: 'primary', id: 'new-call' }, icon('plus'), t('agent.new'));
  create.addEventListener('click', () => {
    dispatch({ type: 'select', id: null });
    dispatch({ type: 'panel', panel: 'create' });
  });
  const signOut = el('button', { type: 'button', class: 'link' }, t('agent.signout'));
  signOut.addEventListener('click', async () => {
    await call('/api/logout', { method: 'POST' }).catch(() => {});
    if (live) live.stop();
    ringing.stop();
    dispatch({ type: 'signed-out' });
  });
  const top = el('header', { class: 'topbar' },
    el('strong', { class: 'product' }, 'vchat'), create,
    el('span', { class: 'spacer' }),
    el('span', { class: 'who' }, `${state.me.name} · ${t(`role.${state.me.role}`)}`), languageSwitch(render), signOut);
  listBox = el('ol', { class: 'list', 'aria-label': t('agent.tab.' + state.tab) });
  panelBox = el('section', { class: 'panel', 'aria-live': 'polite' });
  toastBox = el('div', { class: 'toast hidden', role: 'status' });
  const side = el('aside', { class: 'side-list' }, tabs, search, listBox);
  root.replaceChildren(top, ringing.element(), el('div', { class: 'workspace' }, side, panelBox), toastBox);
  renderList();
  renderPanel();
  renderToast();
}

function renderToast() {
  toastBox.textContent = state.toast;
  toastBox.classList.toggle('hidden', !state.toast);
}

/** @param {any} i */
function matches(i) {
  const q = state.search.trim().toLowerCase();
  if (!q) return true;
  const hay = [i.client.name, i.client.phone, i.client.telegram_chat, ...Object.values(i.fields || {})].filter(Boolean).join(' ').toLowerCase();
  return hay.includes(q);
}

function renderList() {
  if (state.screen !== 'work') return;
  const items = state.items.filter(matches);
  if (!items.length) {
    listBox.replaceChildren(el('li', { class: 'empty muted' }, t('agent.empty')));
    return;
  }
  listBox.replaceChildren(...items.map((i) => {
    const phase = state.phase[i.id];
    const b = el('button', { type: 'button', class: 'item', 'aria-current': String(i.id === state.selected), 'data-id': i.id },
      el('span', { class: 'name' }, i.client.name || i.client.phone || '—'),
      el('span', { class: `badge state-${i.state}` }, stateName(i)),
      el('span', { class: 'muted small' }, formatTime(i.scheduled_at || i.created_at)),
      phase && !FINAL.includes(i.state) ? el('span', { class: 'small phase' }, t(`event.client.${phase === 'opened' ? 'connecting' : phase}`)) : el('span'));
    if (phase === 'opened') /** @type {HTMLElement} */ (b.lastChild).textContent = t('event.link.opened');
    b.addEventListener('click', () => select(i.id));
    return el('li', {}, b);
  }));
}

/** An interaction's state in words: a ringing intercom is "ringing", not "waiting". @param {any} i */
function stateName(i) {
  return i.intercom && i.state === 'waiting' ? t('intercom.state.waiting') : t(`state.${i.state}`);
}

/** @param {string} id */
async function select(id) {
  if (state.panel === 'call' && screen && !screen.over) return;
  dispatch({ type: 'select', id });
  try {
    const events = await call(`/api/interactions/${encodeURIComponent(id)}/events`);
    if (state.selected === id) dispatch({ type: 'timeline', events });
  } catch (_) {
    // the list shows the state all the same
  }
}

function selected() {
  return state.items.find((i) => i.id === state.selected) || null;
}

function renderPanel() {
  if (state.screen !== 'work') return;
  if (state.panel === 'create') return renderCreate();
  if (state.panel === 'call') return; // the call screen draws itself
  const i = selected();
  if (!i) {
    panelBox.replaceChildren(el('p', { class: 'center muted' }, t('agent.select')));
    return;
  }
  const head = el('div', { class: 'panel-head' }, el('h1', {}, i.client.name || '—'), el('span', { class: `badge state-${i.state}` }, stateName(i)));
  const facts = el('dl', { class: 'facts' });
  const fact = (/** @type {string} */ k, /** @type {string} */ v) => facts.append(el('dt', {}, k), el('dd', {}, v));
  const door = i.intercom;
  if (door) {
    fact(t('intercom.panel'), door.device_name);
    if (door.flat) fact(t('intercom.flat.label'), door.flat);
    fact(t('intercom.rang'), formatTime(door.rang_at));
    if (door.answered_by_name) fact(t('intercom.answered'), `${door.answered_by_name} · ${formatTime(door.answered_at)}`);
    fact(t('intercom.door'), door.doors_opened ? t('intercom.door.opened_at', { time: formatTime(door.door_opened_at) }) : '—');
  } else {
    if (i.client.phone) fact(t('agent.phone'), i.client.phone);
    if (i.client.telegram_chat) fact(t('agent.telegram'), i.client.telegram_chat);
    fact(t('agent.video'), t(`agent.video.${i.video}`));
    fact(t('agent.quality'), i.max_quality);
    fact(t('agent.recording'), i.recording ? '✓' : '—');
  }
  for (const f of (state.tenant && state.tenant.custom_fields) || []) if (i.fields[f.key]) fact(f.label, i.fields[f.key]);
  /** @type {HTMLElement[]} */
  const parts = [head, facts];
  if (!FINAL.includes(i.state) && !door) parts.push(linkBox(i));
  const actions = el('div', { class: 'actions' });
  if ((i.state === 'waiting' && !door) || (i.state === 'connected' && i.agent === state.me.id)) {
    const join = el('button', { type: 'button', class: 'primary', id: 'join' }, t('agent.join'));
    join.addEventListener('click', () => joinCall(i));
    actions.append(join);
  }
  if ((i.state === 'scheduled' || i.state === 'waiting') && !door) {
    const cancel = el('button', { type: 'button', class: 'danger' }, t('agent.cancelcall'));
    cancel.addEventListener('click', async () => {
      try {
        dispatch({ type: 'changed', item: await call(`/api/interactions/${encodeURIComponent(i.id)}/cancel`, { method: 'POST' }) });
      } catch (err) {
        toast(staffError(err));
      }
    });
    actions.append(cancel);
  }
  parts.push(actions);
  if (FINAL.includes(i.state)) parts.push(afterCall(i));
  const timeline = el('ol', { class: 'timeline', id: 'timeline', 'aria-label': t('agent.timeline') });
  parts.push(el('h2', {}, t('agent.timeline')), timeline);
  panelBox.replaceChildren(...parts);
  renderTimeline();
}

/** @param {any} i */
function linkBox(i) {
  const url = el('input', { readonly: true, value: i.link_url, 'aria-label': t('agent.link'), id: 'link-url' });
  const copy = el('button', { type: 'button', id: 'copy-link' }, t('agent.copy'));
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(i.link_url);
    } catch (_) {
      url.select();
      document.execCommand('copy');
    }
    toast(t('agent.copied'));
  });
  const how = el('select', { 'aria-label': t('agent.send'), id: 'send-how' },
    el('option', { value: '' }, t('agent.send.chain')),
    el('option', { value: 'sms', disabled: !i.client.phone }, t('agent.send.sms')),
    el('option', { value: 'telegram', disabled: !i.client.telegram_chat }, t('agent.send.telegram')));
  const send = el('button', { type: 'button', class: 'primary', id: 'send-link' }, t('agent.send'));
  send.addEventListener('click', async () => {
    try {
      const body = how.value ? { channels: [how.value] } : undefined;
      await call(`/api/interactions/${encodeURIComponent(i.id)}/send`, { method: 'POST', body });
      toast(t('agent.sent'));
    } catch (err) {
      toast(staffError(err));
    }
  });
  return el('div', { class: 'link-box' }, el('label', { for: 'link-url' }, t('agent.link')), el('div', { class: 'row' }, url, copy), el('div', { class: 'row' }, how, send));
}

/** @param {any} i */
function afterCall(i) {
  const notes = el('textarea', { id: 'notes', rows: 4, maxlength: 4000 });
  notes.value = i.notes || '';
  const form = el('form', { class: 'after' }, el('label', { for: 'notes' }, t('agent.notes')), notes);
  /** @type {Record<string, HTMLInputElement>} */
  const inputs = {};
  for (const f of (state.tenant && state.tenant.custom_fields) || []) {
    const input = el('input', { id: `after-${f.key}`, value: i.fields[f.key] || '', required: f.required, maxlength: 500 });
    inputs[f.key] = input;
    form.append(el('label', { for: `after-${f.key}` }, f.label), input);
  }
  const save = el('button', { type: 'submit', class: 'primary' }, t('agent.save'));
  form.append(save);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    /** @type {any} */
    const body = {};
    if (notes.value.trim()) body.notes = notes.value.trim();
    const fields = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.value.trim()]).filter(([, v]) => v));
    if (Object.keys(inputs).length) body.fields = fields;
    try {
      dispatch({ type: 'changed', item: await call(`/api/interactions/${encodeURIComponent(i.id)}`, { method: 'PATCH', body }) });
      toast(t('agent.saved'));
    } catch (err) {
      toast(staffError(err));
    }
  });
  return form;
}

function renderTimeline() {
  const box = document.getElementById('timeline');
  if (!box || state.panel !== 'detail') return;
  /** @type {{at: number, text: string}[]} */
  const rows = [];
  for (const e of state.timeline) {
    const r = describe(e);
    if (r) rows.push(r);
  }
  box.replaceChildren(...rows.map((r) => el('li', {}, el('time', { class: 'muted small' }, formatTime(r.at)), ' ', r.text)));
}

/**
 * A delivery channel for people: `sms`, `telegram`, `connector:<name>`.
 * @param {unknown} channel
 */
function channelName(channel) {
  const c = String(channel || '');
  return c.startsWith('connector:') ? c.slice(10) : t(`channel.${c}`);
}

/**
 * An event in words, or null for those agents need not see.
 * @param {any} e
 * @returns {{at: number, text: string} | null}
 */
function describe(e) {
  const d = e.data || {};
  /** @type {string | null} */
  let text = null;
  switch (e.kind) {
    case 'link.opened': text = t('event.link.opened'); break;
    case 'consent.given': text = t('event.consent.given'); break;
    case 'client.checked':
      text = d.network
        ? t('event.client.network', { network: t(`network.${d.network}`) })
        : t('event.client.checked', { camera: t(`client.check.${d.camera}`), microphone: t(`client.check.${d.microphone}`), cameras: d.cameras, sound: d.audio_output ? '✓' : '—' });
      break;
    case 'client.state': text = t(`event.client.${d.state}`); break;
    case 'delivery.queued': text = t('event.delivery.started'); break;
    case 'delivery.sent': text = t('event.delivery.sent', { channel: channelName(d.channel) }); break;
    case 'delivery.delivered': text = t('event.delivery.delivered', { channel: channelName(d.channel) }); break;
    case 'delivery.failed': text = t('event.delivery.failed', { reason: d.reason || '' }); break;
    case 'survey.answered': text = t('event.survey.answered', { score: d.score }); break;
    case 'participant.joined': text = t('event.participant.joined', { who: d.role === 'client' ? t('agent.client') : t('agent.staff') }); break;
    case 'participant.left': text = t('event.participant.left', { who: d.role === 'client' ? t('agent.client') : t('agent.staff') }); break;
    default:
      if (e.kind.startsWith('interaction.') && e.kind !== 'interaction.updated') text = t(`state.${e.kind.slice(12)}`);
  }
  return text ? { at: e.at, text } : null;
}

function renderCreate() {
  const form = el('form', { class: 'create', id: 'create-form' }, el('h1', {}, t('agent.new')));
  /**
   * @param {string} id
   * @param {string} label
   * @param {HTMLElement} input
   */
  const field = (id, label, input) => {
    input.id = id;
    form.append(el('div', { class: 'field' }, el('label', { for: id }, label), input));
    return input;
  };
  const name = /** @type {HTMLInputElement} */ (field('c-name', t('agent.name'), el('input', { maxlength: 200, autocomplete: 'off' })));
  const phone = /** @type {HTMLInputElement} */ (field('c-phone', t('agent.phone'), el('input', { type: 'tel', placeholder: '+79991234567', pattern: '\\+[1-9][0-9]{6,14}' })));
  const telegram = /** @type {HTMLInputElement} */ (field('c-telegram', t('agent.telegram'), el('input', { inputmode: 'numeric' })));
  /** @type {Record<string, HTMLInputElement>} */
  const custom = {};
  for (const f of (state.tenant && state.tenant.custom_fields) || []) {
    custom[f.key] = /** @type {HTMLInputElement} */ (field(`c-f-${f.key}`, f.required ? `${f.label} (${t('agent.required')})` : f.label, el('input', { required: f.required, maxlength: 500 })));
  }
  const video = /** @type {HTMLSelectElement} */ (field('c-video', t('agent.video'), el('select', {},
    el('option', { value: 'two_way' }, t('agent.video.two_way')), el('option', { value: 'one_way' }, t('agent.video.one_way')))));
  const quality = /** @type {HTMLSelectElement} */ (field('c-quality', t('agent.quality'), el('select', {},
    ...Object.keys(QUALITY_HEIGHT).map((q) => el('option', { value: q, selected: q === '720p' }, q)))));
  const camera = /** @type {HTMLSelectElement} */ (field('c-camera', t('agent.camera'), el('select', {},
    el('option', { value: 'front' }, t('agent.camera.front')), el('option', { value: 'back' }, t('agent.camera.back')))));
  const lang = /** @type {HTMLSelectElement} */ (field('c-language', t('agent.language'), el('select', {},
    el('option', { value: '' }, '—'), el('option', { value: 'ru' }, 'Русский'), el('option', { value: 'en' }, 'English'))));
  const when = /** @type {HTMLInputElement} */ (field('c-when', t('agent.when'), el('input', { type: 'datetime-local' })));
  const recording = el('input', { type: 'checkbox', id: 'c-recording', checked: true });
  form.append(el('div', { class: 'field' }, el('label', { class: 'check', for: 'c-recording' }, recording, ' ', t('agent.recording'))));
  const error = el('p', { class: 'error hidden', role: 'alert' });
  const cancel = el('button', { type: 'button' }, t('agent.cancel'));
  cancel.addEventListener('click', () => dispatch({ type: 'panel', panel: 'detail' }));
  const submit = el('button', { type: 'submit', class: 'primary', id: 'create' }, t('agent.create'));
  form.append(error, el('div', { class: 'actions' }, submit, cancel));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    /** @type {any} */
    const body = { client: { name: name.value.trim() }, video: video.value, max_quality: quality.value, camera: camera.value, recording: recording.checked };
    if (phone.value.trim()) body.client.phone = phone.value.trim();
    if (telegram.value.trim()) body.client.telegram_chat = telegram.value.trim();
    if (lang.value) body.language = lang.value;
    if (when.value) body.scheduled_at = new Date(when.value).getTime();
    const fields = Object.fromEntries(Object.entries(custom).map(([k, v]) => [k, v.value.trim()]).filter(([, v]) => v));
    if (Object.keys(fields).length) body.fields = fields;
    submit.disabled = true;
    try {
      const created = await call('/api/interactions', { body });
      dispatch({ type: 'changed', item: created });
      dispatch({ type: 'select', id: created.id });
      toast(t('agent.created'));
    } catch (err) {
      submit.disabled = false;
      error.textContent = staffError(err);
      error.classList.remove('hidden');
    }
  });
  panelBox.replaceChildren(form);
  name.focus();
}

/** @param {any} i */
async function joinCall(i) {
  dispatch({ type: 'panel', panel: 'call' });
  inCall = i.id;
  // A door panel has no screen: an intercom call has no chat, no tools, no video.
  const intercom = Boolean(i.intercom);
  chat = intercom ? null : /** @type {Chat} */ (document.createElement('vchat-chat'));
  if (chat) {
    chat.interaction = i.id;
    chat.self = state.me.id;
    chat.classList.add('side');
  }
  const box = el('div', { class: 'call-box' });
  const status = el('p', { class: 'client-phase', role: 'status', id: 'client-phase' });
  // What the client did last, until the live events say more.
  const last = state.timeline.filter((e) => e.kind.startsWith('client.') || e.kind === 'consent.given' || e.kind === 'link.opened').pop();
  const said = last && describe(last);
  if (said) status.textContent = said.text;
  const cap = el('select', { id: 'quality-cap', 'aria-label': t('call.quality.max') },
    ...Object.keys(QUALITY_HEIGHT).map((q) => el('option', { value: q, selected: q === i.max_quality }, q)));
  cap.addEventListener('change', async () => {
    if (screen) screen.send({ type: 'quality', max: cap.value });
    try {
      await call(`/api/interactions/${encodeURIComponent(i.id)}`, { method: 'PATCH', body: { max_quality: cap.value } });
    } catch (err) {
      toast(staffError(err));
    }
  });
  // An intercom is audio only: no quality to choose, and the door to open instead.
  const bar = intercom
    ? el('div', { class: 'call-head' }, el('h1', {}, i.client.name || '—'), status, doorControls(i.id, toast))
    : el('div', { class: 'call-head' }, el('h1', {}, i.client.name || '—'), status,
      el('label', { for: 'quality-cap', class: 'small' }, t('call.quality.max')), cap);
  if (intercom) status.textContent = t('intercom.in_call');
  panelBox.replaceChildren(bar, box);
  const id = i.id;
  tools = new AgentTools({ interaction: id, screen: () => screen, say: toast });
  const mine = tools;
  screen = new CallScreen(box, {
    role: 'agent',
    tools: intercom ? [] : tools.buttons,
    audioOnly: intercom,
    onMessage: (from, m) => mine.onMessage(from, m),
    sendVideo: i.video === 'two_way' && !intercom,
    facing: 'front',
    maxQuality: '720p',
    selfName: state.me.name,
    chat: chat || undefined,
    getToken: async () => (await call(`/api/interactions/${encodeURIComponent(id)}/join`, { method: 'POST' })).token,
    onHangUp: async () => {
      try {
        await call(`/api/interactions/${encodeURIComponent(id)}/end`, { method: 'POST' });
        if (screen) screen.end('ended');
      } catch (err) {
        // Not connected (the client never came): leave all the same.
        if (screen) screen.leave();
      }
    },
    onPhase: (phase) => {
      if (phase === 'ended' || phase === 'left') {
        screen = null;
        inCall = null;
        dispatch({ type: 'panel', panel: 'detail' });
        refresh(id);
        select(id);
      }
    },
  });
  if (chat) chat.load().catch(() => {});
  await screen.start();
}

/** @param {string} id */
async function refresh(id) {
  try {
    dispatch({ type: 'changed', item: await call(`/api/interactions/${encodeURIComponent(id)}`) });
  } catch (_) {
    // Gone from view (another agent answered a ring, say).
    dispatch({ type: 'gone', id });
  }
}

/** This agent answered a ring: the call view opens on it. @param {string} id */
async function answered(id) {
  try {
    const i = await call(`/api/interactions/${encodeURIComponent(id)}`);
    dispatch({ type: 'changed', item: i });
    dispatch({ type: 'select', id });
    await joinCall(i);
  } catch (err) {
    toast(staffError(err));
  }
}

async function loadList() {
  const tab = state.tab;
  /** @type {Record<string, string | number | undefined>} */
  const filters = {};
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  if (tab === 'today') filters.from = midnight.getTime();
  if (tab === 'scheduled') filters.state = 'scheduled';
  if (tab === 'ended') filters.state = 'ended';
  /** @type {any[]} */
  let items = [];
  try {
    if (tab === 'live') {
      for (const s of ['connected', 'waiting']) items = items.concat((await call(pageUrl('/api/interactions', { state: s }, { limit: 100 }))).items);
    } else {
      items = (await call(pageUrl('/api/interactions', filters, { limit: 100 }))).items;
    }
  } catch (err) {
    toast(staffError(err));
  }
  if (state.tab === tab) dispatch({ type: 'items', items: items.sort((a, b) => b.created_at - a.created_at) });
}

function startLive() {
  if (live) live.stop();
  live = new LiveEvents().start();
  live.addEventListener('event', (e) => {
    const { event, message: m } = /** @type {CustomEvent} */ (e).detail;
    dispatch({ type: 'event', event });
    if (event.kind === 'chat.message' && m && chat && chat.interaction === event.interaction) {
      chat.add(m);
      if (m.geo && m.from === 'client' && tools) tools.located();
    }
    if (event.kind === 'geo.address' && chat && chat.interaction === event.interaction) chat.resolved(event.data);
    if (event.interaction && (event.kind.startsWith('interaction.') || event.kind === 'link.opened')) refresh(event.interaction);
    if (event.kind.startsWith('interaction.')) ringing.refresh();
    if (screen && event.interaction === inCall && event.kind === 'client.state') screen.peerState(event.data.state);
    if (screen && event.interaction === inCall && ['interaction.ended', 'interaction.failed', 'interaction.cancelled'].includes(event.kind)) screen.end('ended');
    const phase = document.getElementById('client-phase');
    if (phase && event.interaction === inCall) {
      const text = describe(event);
      if (text && (event.kind.startsWith('client.') || event.kind === 'consent.given' || event.kind === 'link.opened')) phase.textContent = text.text;
    }
  });
  live.addEventListener('ready', () => {
    loadList();
    ringing.refresh();
  });
  live.addEventListener('refused', () => dispatch({ type: 'signed-out' }));
}

async function signedIn() {
  const me = await call('/api/me');
  /** @type {any} */
  let tenant = null;
  try {
    tenant = await call(`/api/tenants/${encodeURIComponent(me.tenant)}`);
  } catch (_) {
    tenant = null;
  }
  dispatch({ type: 'signed-in', me, tenant });
  startLive();
  loadList();
}

async function boot() {
  chooseLanguage(null);
  try {
    await signedIn();
  } catch (err) {
    dispatch({ type: 'signed-out' });
  }
}

/** @type {any} */ (window).vchatAgent = { get state() { return state; } };
boot();
