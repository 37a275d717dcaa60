// The staff sign-in form (the agent workspace, the admin console): login and
// password, the error said in place (what was typed stays), the language switch.

import { el } from './dom.js';
import { t } from './i18n.js';
import { ApiError, call } from '../sdk/api.js';

/**
 * A sign-in form; `onSignedIn` runs once `/api/login` accepted the credentials.
 * @param {{languageSwitch: () => HTMLElement, onSignedIn: () => Promise<void>, message: (err: unknown) => string}} o
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
    error, submit, el('p', { class: 'center' }, o.languageSwitch()));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      await call('/api/login', { body: { login: login.value.trim(), password: password.value } });
      await o.onSignedIn();
    } catch (err) {
      submit.disabled = false;
      error.textContent = err instanceof ApiError && err.status === 401 ? t('agent.signin.failed') : o.message(err);
      password.select();
    }
  });
  setTimeout(() => login.focus(), 0);
  return form;
}
