// The admin console's devices page, `/admin/devices/` (desktop first, usable on a
// phone): the tenant's intercoms with their online state, last status and reconnects,
// refreshed every few seconds; one device's details, its log (searchable) and its
// commands (open the door, reboot, remove); adding a device, whose secret is shown
// once.
//
// State changes only through `update(state, event)`; `render` draws from state.

import { byId, el } from '../common/dom.js';
import { icon } from '../common/icons.js';
import { chooseLanguage, formatTime, language, languageSwitch, t } from '../common/i18n.js';
import { signInForm, staffError } from '../common/signin.js';
import { ApiError, call } from '../sdk/api.js';

/**
 * @typedef {object} State
 * @property {'loading' | 'signin' | 'denied' | 'work'} screen
 * @property {any} me
 * @property {any[]} devices
 * @property {string} search
 * @property {string | null} selected
 * @property {'detail' | 'add'} panel
 * @property {any[]} logs Log lines of the selected device, newest first.
 * @property {string} logQuery
 * @property {any} added The device just added, with its secret (shown once).
 * @property {string} toast
 */

/**
 * @typedef {{type: 'signed-out'} | {type: 'signed-in', me: any} | {type: 'devices', devices: any[]}
 *   | {type: 'search', text: string} | {type: 'select', id: string | null} | {type: 'panel', panel: State['panel']}
 *   | {type: 'logs', logs: any[], query: string} | {type: 'added', device: any} | {type: 'toast', text: string}} AppEvent
 */

const REFRESH_MS = 5000;
const root = byId('app');
/** @type {State} */
let state = { screen: 'loading', me: null, devices: [], search: '', selected: null, panel: 'detail', logs: [], logQuery: '', added: null, toast: '' };
/** @type {ReturnType<typeof setTimeout> | null} */
let toastTimer = null;
/** @type {ReturnType<typeof setInterval> | null} */
let refreshTimer = null;
/** The device the detail panel was drawn from, as JSON. */
let panelShows = '';

/**
 * @param {State} s
 * @param {AppEvent} e
 * @returns {State}
 */
export function update(s, e) {
  switch (e.type) {
    case 'signed-out':
      return { ...s, screen: 'signin', me: null, devices: [], selected: null };
    case 'signed-in':
      return { ...s, screen: e.me.role === 'agent' ? 'denied' : 'work', me: e.me };
    case 'devices':
      return { ...s, devices: e.devices, selected: s.selected && e.devices.some((d) => d.id === s.selected) ? s.selected : null };
    case 'search':
      return { ...s, search: e.text };
    case 'select':
      return { ...s, selected: e.id, panel: 'detail', logs: [], logQuery: '', added: null };
    case 'panel':
      return { ...s, panel: e.panel, added: null };
    case 'logs':
      return { ...s, logs: e.logs, logQuery: e.query };
    case 'added':
      return { ...s, added: e.device, panel: 'add' };
    case 'toast':
      return { ...s, toast: e.text };
  }
  return s;
}

/** @param {AppEvent} e */
function dispatch(e) {
  state = update(state, e);
  if (e.type === 'toast') return renderToast();
  if (e.type === 'search') return renderList();
  if (e.type === 'devices') {
    renderList();
    // Redrawn only when the device changed, and never under the person's typing.
    const shown = JSON.stringify(selected());
    const typing = panelBox.contains(document.activeElement) && document.activeElement instanceof HTMLInputElement;
    if (state.panel === 'detail' && shown !== panelShows && !typing) renderPanel();
    return;
  }
  if (e.type === 'logs') return renderLogs();
  render();
}

/** @param {string} text */
function toast(text) {
  dispatch({ type: 'toast', text });
  if (toastTimer) clearTimeout(toastTimer);
  toastTimer = setTimeout(() => dispatch({ type: 'toast', text: '' }), 4000);
}

const isAdmin = () => state.me && state.me.role === 'admin';

function signOutButton() {
  const b = el('button', { type: 'button', class: 'link' }, t('agent.signout'));
  b.addEventListener('click', async () => {
    await call('/api/logout', { method: 'POST' }).catch(() => {});
    stopRefresh();
    dispatch({ type: 'signed-out' });
  });
  return b;
}

function render() {
  document.title = t('devices.title');
  if (state.screen === 'loading') {
    root.replaceChildren(el('p', { class: 'center muted' }, t('app.loading')));
  } else if (state.screen === 'signin') {
    root.replaceChildren(signInForm({ onSignedIn: signedIn, onLanguage: render }));
  } else if (state.screen === 'denied') {
    root.replaceChildren(el('div', { class: 'card narrow signin' },
      el('h1', {}, t('devices.title')), el('p', {}, t('devices.denied')), el('p', { class: 'center' }, signOutButton())));
  } else {
    renderWork();
  }
}

/** @type {HTMLElement} */
let listBox = el('div');
/** @type {HTMLElement} */
let summaryBox = el('p');
/** @type {HTMLElement} */
let panelBox = el('div');
/** @type {HTMLElement} */
let logsBox = el('div');
/** @type {HTMLElement} */
let toastBox = el('div');

function renderWork() {
  const add = el('button', { type: 'button', class: 'primary', id: 'add-device' }, icon('plus'), t('devices.add'));
  add.addEventListener('click', () => {
    dispatch({ type: 'select', id: null });
    dispatch({ type: 'panel', panel: 'add' });
  });
  const top = el('header', { class: 'topbar' },
    el('strong', { class: 'product' }, 'vchat'), el('span', { class: 'section' }, t('devices.heading')),
    isAdmin() ? add : el('span'),
    el('span', { class: 'spacer' }),
    el('span', { class: 'who' }, `${state.me.name} · ${t(`role.${state.me.role}`)}`), languageSwitch(render), signOutButton());
  const search = el('input', { type: 'search', id: 'device-search', placeholder: t('devices.search'), 'aria-label': t('devices.search'), value: state.search });
  search.addEventListener('input', () => dispatch({ type: 'search', text: search.value }));
  summaryBox = el('p', { class: 'muted small', id: 'devices-summary' });
  listBox = el('ol', { class: 'list', 'aria-label': t('devices.heading') });
  panelBox = el('section', { class: 'panel', 'aria-live': 'polite' });
  toastBox = el('div', { class: 'toast hidden', role: 'status' });
  root.replaceChildren(top, el('div', { class: 'workspace' }, el('aside', { class: 'side-list' }, search, summaryBox, listBox), panelBox), toastBox);
  renderList();
  renderPanel();
  renderToast();
}

function renderToast() {
  toastBox.textContent = state.toast;
  toastBox.classList.toggle('hidden', !state.toast);
}

/** @param {any} d */
function matches(d) {
  const q = state.search.trim().toLowerCase();
  return !q || `${d.name} ${d.device} ${d.model || ''}`.toLowerCase().includes(q);
}

/** @param {any} d */
function onlineBadge(d) {
  return el('span', { class: `badge ${d.online ? 'state-connected' : 'state-failed'}` }, t(d.online ? 'devices.online' : 'devices.offline'));
}

function renderList() {
  if (state.screen !== 'work') return;
  const online = state.devices.filter((d) => d.online).length;
  summaryBox.textContent = t('devices.summary', { online, total: state.devices.length });
  const items = state.devices.filter(matches);
  if (!items.length) {
    listBox.replaceChildren(el('li', { class: 'empty muted' }, t(state.devices.length ? 'devices.nomatch' : 'devices.empty')));
    return;
  }
  listBox.replaceChildren(...items.map((d) => {
    const seen = d.online ? t('devices.since', { time: formatTime(d.online_since) }) : d.last_seen_at ? t('devices.seen', { time: formatTime(d.last_seen_at) }) : t('devices.never');
    const b = el('button', { type: 'button', class: 'item', 'aria-current': String(d.id === state.selected), 'data-id': d.id },
      el('span', { class: 'name' }, d.name), onlineBadge(d),
      el('span', { class: 'muted small' }, `${d.device} · ${seen}`),
      d.reconnects ? el('span', { class: 'muted small' }, t('devices.reconnects.short', { n: d.reconnects })) : el('span'));
    b.addEventListener('click', () => {
      dispatch({ type: 'select', id: d.id });
      loadLogs('');
    });
    return el('li', {}, b);
  }));
}

function selected() {
  return state.devices.find((d) => d.id === state.selected) || null;
}

/**
 * A status value for people.
 * @param {string} key
 * @param {any} value
 */
function statusText(key, value) {
  if (key === 'door' || key === 'sip') return t(`devices.${key}.${value}`);
  if (key === 'temperature') return `${Number(value).toLocaleString(language())} °C`;
  if (typeof value === 'boolean') return value ? t('devices.yes') : t('devices.no');
  return String(value);
}

function renderPanel() {
  if (state.screen !== 'work') return;
  if (state.panel === 'add') return renderAdd();
  const d = selected();
  panelShows = JSON.stringify(d);
  if (!d) {
    panelBox.replaceChildren(el('p', { class: 'center muted' }, t(state.devices.length ? 'devices.select' : 'devices.start')));
    return;
  }
  const head = el('div', { class: 'panel-head' }, el('h1', {}, d.name), onlineBadge(d));
  const facts = el('dl', { class: 'facts' });
  const fact = (/** @type {string} */ k, /** @type {string} */ v) => facts.append(el('dt', {}, k), el('dd', {}, v));
  fact(t('devices.id'), d.device);
  fact(t('devices.model'), d.model || '—');
  fact(t('devices.firmware'), d.firmware || '—');
  fact(t('devices.codecs'), d.codecs.length ? d.codecs.join(', ') : '—');
  fact(t(d.online ? 'devices.online.since' : 'devices.lastseen'), d.online ? formatTime(d.online_since) : d.last_seen_at ? formatTime(d.last_seen_at) : t('devices.never'));
  fact(t('devices.sessions'), t('devices.sessions.value', { n: d.connections, r: d.reconnects }));
  const status = el('dl', { class: 'facts', id: 'device-status' });
  const keys = Object.keys(d.status).filter((k) => k !== 'online');
  for (const k of keys) status.append(el('dt', {}, t(`devices.status.${k}`) === `devices.status.${k}` ? k : t(`devices.status.${k}`)), el('dd', {}, statusText(k, d.status[k])));
  const actions = el('div', { class: 'actions' });
  const open = el('button', { type: 'button', class: 'primary', id: 'open-door', disabled: !d.online }, t('devices.open'));
  open.addEventListener('click', () => command(d, { type: 'open_door', relay: 1 }, open));
  actions.append(open);
  if (isAdmin()) {
    const reboot = el('button', { type: 'button', id: 'reboot', disabled: !d.online }, t('devices.reboot'));
    reboot.addEventListener('click', () => {
      if (confirm(t('devices.reboot.confirm', { name: d.name }))) command(d, { type: 'reboot' }, reboot);
    });
    const remove = el('button', { type: 'button', class: 'danger', id: 'remove' }, t('devices.remove'));
    remove.addEventListener('click', () => removeDevice(d));
    actions.append(reboot, remove);
  }
  const offline = d.online ? el('span') : el('p', { class: 'muted small' }, t('devices.offline.hint'));
  const logQuery = el('input', { type: 'search', id: 'log-search', placeholder: t('devices.logs.search'), 'aria-label': t('devices.logs.search'), value: state.logQuery });
  const find = el('button', { type: 'submit' }, t('devices.logs.find'));
  const logForm = el('form', { class: 'row', role: 'search' }, logQuery, find);
  logForm.addEventListener('submit', (e) => {
    e.preventDefault();
    loadLogs(logQuery.value.trim());
  });
  logsBox = el('ol', { class: 'log-lines', id: 'device-logs', 'aria-label': t('devices.logs') });
  panelBox.replaceChildren(head, facts, actions, offline,
    el('h2', {}, t('devices.status')), keys.length ? status : el('p', { class: 'muted' }, t('devices.status.none')),
    el('h2', {}, t('devices.logs')), logForm, logsBox);
  renderLogs();
}

function renderLogs() {
  if (state.screen !== 'work' || state.panel !== 'detail') return;
  if (!state.logs.length) {
    logsBox.replaceChildren(el('li', { class: 'muted' }, t(state.logQuery ? 'devices.logs.nomatch' : 'devices.logs.empty')));
    return;
  }
  logsBox.replaceChildren(...state.logs.map((l) => el('li', {},
    el('span', { class: 'muted small' }, formatTime(l.received_at)), ' ',
    el('span', { class: `badge level-${l.level}` }, t(`devices.level.${l.level}`)), ' ', el('span', { class: 'log-text' }, l.text))));
}

function renderAdd() {
  if (state.added) {
    const secret = el('input', { id: 'new-secret', readonly: true, value: state.added.secret, 'aria-label': t('devices.secret') });
    const copy = el('button', { type: 'button' }, t('devices.copy'));
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(state.added.secret);
        toast(t('devices.copied'));
      } catch (_) {
        secret.select();
        toast(t('devices.copy.manual'));
      }
    });
    const done = el('button', { type: 'button', class: 'primary' }, t('devices.done'));
    const id = state.added.id;
    done.addEventListener('click', () => {
      dispatch({ type: 'select', id });
      loadLogs('');
    });
    panelBox.replaceChildren(el('div', { class: 'link-box', id: 'device-added' },
      el('h1', {}, t('devices.added', { name: state.added.name })),
      el('p', {}, t('devices.secret.once')),
      el('dl', { class: 'facts' }, el('dt', {}, t('devices.id')), el('dd', {}, state.added.device)),
      el('label', { for: 'new-secret' }, t('devices.secret')), el('div', { class: 'row' }, secret, copy),
      el('p', { class: 'muted small' }, t('devices.secret.where')),
      el('div', { class: 'actions' }, done)));
    return;
  }
  const deviceId = el('input', { id: 'd-id', required: true, maxlength: 64, pattern: '[A-Za-z0-9._\\-]{1,64}', autocomplete: 'off', 'aria-describedby': 'd-id-hint' });
  const name = el('input', { id: 'd-name', maxlength: 120, autocomplete: 'off' });
  const error = el('p', { class: 'error', role: 'alert' });
  const submit = el('button', { type: 'submit', class: 'primary', id: 'd-create' }, t('devices.add.submit'));
  const cancel = el('button', { type: 'button' }, t('devices.cancel'));
  cancel.addEventListener('click', () => dispatch({ type: 'panel', panel: 'detail' }));
  const form = el('form', { class: 'create' },
    el('h1', {}, t('devices.add')),
    el('div', {}, el('label', { for: 'd-id' }, t('devices.id')), deviceId, el('p', { class: 'muted small', id: 'd-id-hint' }, t('devices.id.hint'))),
    el('div', {}, el('label', { for: 'd-name' }, t('devices.name')), name, el('p', { class: 'muted small' }, t('devices.name.hint'))),
    error, el('div', { class: 'actions' }, submit, cancel));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      const device = await call('/api/devices', { body: { device: deviceId.value.trim(), name: name.value.trim() } });
      dispatch({ type: 'added', device });
      loadDevices();
    } catch (err) {
      submit.disabled = false;
      error.textContent = err instanceof ApiError && err.status === 409 ? t('devices.add.taken') : staffError(err);
    }
  });
  panelBox.replaceChildren(form);
  deviceId.focus();
}

/**
 * Sends a command and says how it went.
 * @param {any} d
 * @param {any} body
 * @param {HTMLButtonElement} button
 */
async function command(d, body, button) {
  button.disabled = true;
  toast(t('devices.sending'));
  try {
    const reply = await call(`/api/devices/${encodeURIComponent(d.id)}/commands`, { body });
    if (body.type === 'open_door') toast(reply.door === 'open' ? t('devices.open.done', { name: d.name }) : t('devices.open.closed'));
    else toast(reply.ok ? t('devices.command.done') : t('devices.command.failed', { reason: reply.error || '—' }));
    loadDevices();
  } catch (err) {
    toast(err instanceof ApiError && err.status === 409 ? t('devices.command.noanswer') : staffError(err));
  } finally {
    button.disabled = false;
  }
}

/** @param {any} d */
async function removeDevice(d) {
  if (!confirm(t('devices.remove.confirm', { name: d.name }))) return;
  try {
    await call(`/api/devices/${encodeURIComponent(d.id)}`, { method: 'DELETE' });
    dispatch({ type: 'select', id: null });
    toast(t('devices.removed', { name: d.name }));
    loadDevices();
  } catch (err) {
    toast(staffError(err));
  }
}

/** @param {string} query */
async function loadLogs(query) {
  const id = state.selected;
  if (!id) return;
  const q = query ? `?q=${encodeURIComponent(query)}` : '';
  try {
    const page = await call(`/api/devices/${encodeURIComponent(id)}/logs${q}`);
    if (state.selected === id) dispatch({ type: 'logs', logs: page.items, query });
  } catch (err) {
    toast(staffError(err));
  }
}

async function loadDevices() {
  try {
    dispatch({ type: 'devices', devices: await call('/api/devices') });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      stopRefresh();
      dispatch({ type: 'signed-out' });
    }
  }
}

function stopRefresh() {
  if (refreshTimer) clearInterval(refreshTimer);
  refreshTimer = null;
}

async function signedIn() {
  const me = await call('/api/me');
  dispatch({ type: 'signed-in', me });
  if (state.screen !== 'work') return;
  await loadDevices();
  stopRefresh();
  refreshTimer = setInterval(() => {
    if (document.hidden) return;
    loadDevices();
    if (state.panel === 'detail' && !state.logQuery) loadLogs('');
  }, REFRESH_MS);
}

async function boot() {
  chooseLanguage(null);
  try {
    await signedIn();
  } catch (_) {
    dispatch({ type: 'signed-out' });
  }
}

/** @type {any} */ (window).vchatDevices = { get state() { return state; } };
boot();
