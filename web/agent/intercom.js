// Intercoms in the agent's workspace: the bar of door panels calling now (each with
// answer and reject, and a soft ring while any calls), and the call view's door
// button with the door's state as the panel reports it.

import { el } from '../common/dom.js';
import { formatTime, t } from '../common/i18n.js';
import { staffError } from '../common/signin.js';
import { call } from '../sdk/api.js';

/** How often the ring sounds while a panel calls, ms. */
const RING_EVERY = 2500;

/**
 * The panels ringing now. `refresh` asks the server again (on every live event about
 * interactions); answering hands the call to `onAnswered`.
 */
export class Ringing {
  /**
   * @param {{onAnswered: (id: string) => void, say: (text: string) => void}} o
   */
  constructor(o) {
    this.o = o;
    /** @type {any[]} */
    this.calls = [];
    this.box = el('section', { class: 'ringing hidden', id: 'ringing', 'aria-label': t('intercom.ringing') });
    /** @type {AudioContext | null} */
    this.audio = null;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.timer = null;
    /** Calls being answered or rejected here (their buttons wait). */
    this.busy = new Set();
  }

  /** The box, drawn again (after the workspace is). */
  element() {
    this.render();
    return this.box;
  }

  async refresh() {
    try {
      this.calls = await call('/api/intercom/calls');
    } catch (_) {
      return; // signed out or offline: the page says so elsewhere
    }
    this.render();
  }

  render() {
    const rows = this.calls.map((i) => {
      const c = i.intercom || {};
      const answer = el('button', { type: 'button', class: 'primary answer', 'data-id': i.id }, t('intercom.answer'));
      const reject = el('button', { type: 'button', class: 'danger reject', 'data-id': i.id }, t('intercom.reject'));
      answer.disabled = reject.disabled = this.busy.has(i.id);
      answer.addEventListener('click', () => this.answer(i));
      reject.addEventListener('click', () => this.reject(i));
      return el('div', { class: 'ring', role: 'group', 'aria-label': c.device_name || '' },
        el('span', { class: 'bell', 'aria-hidden': 'true' }),
        el('span', { class: 'who' },
          el('strong', {}, c.device_name || '—'),
          el('span', { class: 'small' }, c.flat ? t('intercom.flat', { flat: c.flat }) : t(`intercom.kind.${c.call_kind || 'sip'}`)),
          el('span', { class: 'muted small' }, t('intercom.since', { time: formatTime(c.rang_at || i.created_at) }))),
        el('span', { class: 'ring-actions' }, answer, reject));
    });
    this.box.replaceChildren(...(rows.length ? [el('p', { class: 'ringing-title', role: 'alert' }, t('intercom.calling', { n: String(rows.length) }))] : []), ...rows);
    this.box.classList.toggle('hidden', rows.length === 0);
    this.sound(rows.length > 0);
  }

  /** @param {any} i */
  answer(i) {
    return this.act(i, 'answer', () => this.o.onAnswered(i.id));
  }

  /** @param {any} i */
  reject(i) {
    return this.act(i, 'reject', () => this.o.say(t('intercom.rejected', { name: (i.intercom && i.intercom.device_name) || '' })));
  }

  /**
   * Answers or rejects ring `i`, its buttons waiting meanwhile; `done` once it is.
   * @param {any} i
   * @param {'answer' | 'reject'} what
   * @param {() => void} done
   */
  async act(i, what, done) {
    this.busy.add(i.id);
    this.render();
    try {
      await call(`/api/interactions/${encodeURIComponent(i.id)}/${what}`, { method: 'POST' });
      this.calls = this.calls.filter((c) => c.id !== i.id);
      done();
    } catch (err) {
      this.o.say(staffError(err));
      await this.refresh();
    } finally {
      this.busy.delete(i.id);
      this.render();
    }
  }

  /** A soft two-tone ring every few seconds while any panel calls. @param {boolean} on */
  sound(on) {
    if (!on) {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      return;
    }
    if (this.timer) return;
    const ring = () => {
      try {
        this.audio = this.audio || new AudioContext();
        const a = this.audio;
        for (const [hz, at] of [[660, 0], [880, 0.25]]) {
          const osc = a.createOscillator();
          const gain = a.createGain();
          osc.frequency.value = hz;
          gain.gain.setValueAtTime(0.0001, a.currentTime + at);
          gain.gain.exponentialRampToValueAtTime(0.08, a.currentTime + at + 0.03);
          gain.gain.exponentialRampToValueAtTime(0.0001, a.currentTime + at + 0.22);
          osc.connect(gain).connect(a.destination);
          osc.start(a.currentTime + at);
          osc.stop(a.currentTime + at + 0.25);
        }
      } catch (_) {
        // no sound on this browser: the bar still shows the call
      }
    };
    ring();
    this.timer = setInterval(ring, RING_EVERY);
  }

  stop() {
    this.sound(false);
  }
}

/**
 * The call view's part for an intercom call: the door button and what the panel says
 * about the door.
 * @param {string} id The interaction.
 * @param {(text: string) => void} say
 */
export function doorControls(id, say) {
  const state = el('span', { class: 'door-state small', id: 'door-state', role: 'status' }, t('intercom.door.unknown'));
  const open = el('button', { type: 'button', class: 'primary', id: 'open-door' }, t('intercom.door.open'));
  open.addEventListener('click', async () => {
    open.disabled = true;
    state.textContent = t('intercom.door.opening');
    try {
      const reply = await call(`/api/interactions/${encodeURIComponent(id)}/door`, { method: 'POST' });
      const opened = reply.ok && reply.door !== 'closed';
      state.textContent = t(opened ? 'intercom.door.is_open' : 'intercom.door.is_closed');
      say(t(opened ? 'intercom.door.opened' : 'intercom.door.stayed'));
    } catch (err) {
      state.textContent = t('intercom.door.unknown');
      say(staffError(err));
    } finally {
      open.disabled = false;
    }
  });
  return el('div', { class: 'door' }, open, state);
}
