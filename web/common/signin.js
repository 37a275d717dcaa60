// The staff sign-in form (the agent workspace, the admin console): login and
// password, the error said in place (what was typed stays), the language switch.

import { el } from './dom.js';
import { languageSwitch, t } from './i18n.js';
import { ApiError, call } from '../sdk/api.js';

/**
 * What a staff page says when a request fails: the API's reason, or that the server
 * cannot be reached, or a generic apology.
 * @param {unknown} err
 * @returns {string}
 */
export function staffError(err) {
  if (err instanceof ApiError) return err.status === 0 ? t('app.offline') : err.message;
  return t('error.generic');
}

/**
 * A sign-in form; `onSignedIn` runs once `/api/login` accepted the credentials,
 * `onLanguage` once the language was switched.
 * @param {{onSignedIn: () => Promise<void>, onLanguage: () => void}} o
 * @returns {HTMLFormElement}
 */
export function signInForm(o) {
  const login = el('input', { id: 'login', name: 'login', autocomplete: 'username', required: true });
  const password = el('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = el('button', { type: 'submit', class: 'primary wide' }, t('agent.signin'));
  const error = el('p', { class: 'error', role: 'alert', id: 'signin-error' });
  const form = el('form', { class: 'card narrow signin' },
    el('h1', {}, 'vchat'),
    el('label', { for: 'login' }, t('agent.login')), login,
    el('label', { for: 'password' }, t('agent.password')), password,
    error, submit, el('p', { class: 'center' }, languageSwitch(o.onLanguage)));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      await call('/api/login', { body: { login: login.value.trim(), password: password.value } });
      await o.onSignedIn();
    } catch (err) {
      submit.disabled = false;
      error.textContent = err instanceof ApiError && err.status === 401 ? t('agent.signin.failed') : staffError(err);
      password.select();
    }
  });
  setTimeout(() => login.focus(), 0);
  return form;
}
