// The whole video-assistance call in real Chromium, as the people who use it do it:
// the agent at 1440×900 signs in, creates a call with the tenant's custom field and
// sends the link by SMS (to a local SMSC stand-in that checks requests as SMSC's API
// documents them); the client, a 390×844 touch phone, opens the link taken from the
// captured SMS, consents, passes the device check (the agent sees its result),
// connects; audio and video flow both ways; chat and a 10 MB file go each way
// (SHA-256 equal); the client switches from the front to the back camera (two fake
// cameras); the agent caps quality at 480p (the client's outbound frameHeight drops to
// ≤ 480 within 5 s); the agent shares a screen (the client decodes a second video);
// the agent ends; the client answers the survey and is redirected; the CDR holds the
// consent, the survey and the files. Run in Russian and in English; every screen is
// screenshotted at 390×844 and 1440×900 into docs/screens/ and checked by axe-core.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { adminApi, callStats as statsOf } from './apps.js';
import { startServer, sleep, waitFor } from './harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SCREENS = path.join(here, '../../docs/screens');
const axeSource = createRequire(import.meta.url)('axe-core').source;
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1440, height: 900 };

/** The stand-in for SMSC's HTTP API (`POST /sys/send.php`, form fields, fmt=3 JSON). */
async function smscStandIn() {
  /** @type {Array<Record<string, string>>} */
  const sent = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      const ok = req.method === 'POST' && req.url === '/sys/send.php' && form.login === 'vchat' && form.psw === 'secret'
        && /^[0-9]{10,15}$/.test(form.phones || '') && form.fmt === '3' && form.charset === 'utf-8' && form.mes;
      res.setHeader('Content-Type', 'application/json');
      if (!ok) {
        res.end(JSON.stringify({ error: 'parameters error', error_code: 1 }));
        return;
      }
      sent.push(form);
      res.end(JSON.stringify({ id: sent.length, cnt: 1 }));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(null)));
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return { url: `http://127.0.0.1:${address.port}`, sent, close: () => server.close() };
}

// Two fake cameras: device 0 is the front one, device 2 the back one (Chromium's fake
// device 1 is a Y16 depth camera its encoder does not take). Fake devices have no
// facingMode, so this test-only shim maps it.
const FACING_SHIM = `(() => { const md = navigator.mediaDevices, orig = md.getUserMedia.bind(md);
  const map = { user: 'fake_device_0', environment: 'fake_device_2' };
  md.getUserMedia = async (c = {}) => { const fm = c.video && c.video.facingMode; const want = fm && (fm.exact || fm.ideal || fm);
    if (map[want]) { const d = (await md.enumerateDevices()).find((x) => x.label === map[want]);
      if (d) c = { ...c, video: { ...c.video, facingMode: undefined, deviceId: { exact: d.deviceId } } }; }
    const s = await orig(c);
    if (map[want]) { const t = s.getVideoTracks()[0]; if (t) { const gs = t.getSettings.bind(t); t.getSettings = () => ({ ...gs(), facingMode: want }); } }
    return s; }; })();`;

/** What getStats says of a page's call. @param {import('playwright-core').Page} page */
const callStats = (page) => statsOf((f) => page.evaluate(f));

/**
 * Screenshots `page` at both sizes (then back to its own) and runs axe on it.
 * @param {import('playwright-core').Page} page
 * @param {string} lang
 * @param {string} name
 * @param {{width: number, height: number}} own
 * @param {string[]} problems Serious or critical axe findings, collected.
 */
async function shoot(page, lang, name, own, problems) {
  for (const [size, viewport] of [['phone', PHONE], ['desktop', DESKTOP]]) {
    await page.setViewportSize(viewport);
    await sleep(400);
    await page.screenshot({ path: path.join(SCREENS, `${lang}-${name}-${size}.png`), scale: 'css' });
  }
  await page.setViewportSize(own);
  await sleep(200);
  const hasAxe = await page.evaluate(() => typeof (/** @type {any} */ (window).axe) !== 'undefined');
  if (!hasAxe) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const r = await /** @type {any} */ (window).axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  for (const v of violations) problems.push(`${lang} ${name}: ${v}`);
}

async function sha256InPage(page, fileId, token) {
  return page.evaluate(async ({ id, token }) => {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const r = await fetch(`/api/files/${id}`, { headers, credentials: 'same-origin' });
    const digest = await crypto.subtle.digest('SHA-256', await r.arrayBuffer());
    return Array.from(new Uint8Array(digest)).map((b) => b.toString(16).padStart(2, '0')).join('');
  }, { id: fileId, token });
}

for (const lang of ['ru', 'en']) {
  test(`a whole call from sign-in to survey (${lang})`, { timeout: 240000 }, async () => {
    mkdirSync(SCREENS, { recursive: true });
    const smsc = await smscStandIn();
    const server = await startServer({
      VCHAT_DELIVERY_SMSC_BASE_URL: smsc.url,
      VCHAT_DELIVERY_SMSC_LOGIN: 'vchat',
      VCHAT_DELIVERY_SMSC_PASSWORD: 'secret',
    });
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium', headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required',
        '--use-fake-device-for-media-stream=device-count=3', '--use-fake-ui-for-media-stream',
        '--allow-loopback-in-peer-connection'],
    });
    const problems = [];
    try {
      const api = adminApi(server);
      const redirect = `${server.base}/healthz?after=survey`;
      await api('PATCH', '/api/tenants/root', {
        name: lang === 'ru' ? 'ООО Ромашка' : 'Daisy Ltd',
        language: lang,
        branding: {
          company_name: lang === 'ru' ? 'ООО Ромашка' : 'Daisy Ltd',
          consent_text: lang === 'ru' ? 'Звонок записывается для контроля качества.' : 'This call is recorded for quality.',
          redirect_url: redirect, color: '#1d4ed8',
        },
        custom_fields: [{ key: 'contract', label: lang === 'ru' ? 'Номер договора' : 'Contract number', required: true }],
        delivery_chain: ['sms'],
      });
      await api('POST', '/api/users', { login: 'anna', name: lang === 'ru' ? 'Анна Смирнова' : 'Anna Smith', role: 'agent', password: 'correct horse battery' });

      const agentCtx = await browser.newContext({ viewport: DESKTOP, locale: lang, permissions: ['camera', 'microphone', 'clipboard-read', 'clipboard-write'] });
      const agent = await agentCtx.newPage();
      agent.on('pageerror', (e) => console.log(`[agent page error] ${e.message}`));
      await agent.goto(`${server.base}/`);
      await agent.waitForSelector('#login');
      assert.equal(new URL(agent.url()).pathname, '/agent/', 'the landing page is the staff sign-in');
      await shoot(agent, lang, 'agent-signin', DESKTOP, problems);
      await agent.fill('#login', 'anna');
      await agent.fill('#password', 'wrong password');
      await agent.click('form.signin button[type=submit]');
      await agent.waitForFunction(() => (document.getElementById('signin-error') || {}).textContent);
      await agent.fill('#password', 'correct horse battery');
      await agent.click('form.signin button[type=submit]');
      await agent.waitForSelector('#new-call');
      const stored = await agent.evaluate(() => JSON.stringify(localStorage));
      assert.ok(!stored.includes(server.apiToken) && !/token/i.test(stored), `no token in localStorage: ${stored}`);

      // Create with the custom field; send by SMS.
      await agent.click('#new-call');
      await agent.waitForSelector('#create-form');
      await shoot(agent, lang, 'agent-create', DESKTOP, problems);
      await agent.fill('#c-name', lang === 'ru' ? 'Иван Петров' : 'John Brown');
      await agent.fill('#c-phone', '+79991234567');
      await agent.fill('#c-f-contract', 'D-2026-117');
      await agent.selectOption('#c-quality', '720p');
      await agent.click('#create');
      await agent.waitForSelector('#send-link');
      const interaction = await waitFor('the created call in the list', () => agent.evaluate(() => /** @type {any} */ (window).vchatAgent.state.selected));
      await agent.selectOption('#send-how', 'sms');
      await agent.click('#send-link');
      const sms = await waitFor('the SMS at the SMSC stand-in', () => smsc.sent[0]);
      assert.equal(sms.phones, '79991234567');
      const link = sms.mes.match(/https?:\/\/\S+\/j\/[A-Za-z0-9]+/);
      assert.ok(link, `the SMS carries the link: ${sms.mes}`);
      assert.ok(sms.mes.startsWith(lang === 'ru' ? 'ООО Ромашка' : 'Daisy Ltd'), sms.mes);
      assert.ok((lang === 'ru' ? /ссылка на видеозвонок/ : /your video call link/).test(sms.mes), `the tenant's language: ${sms.mes}`);
      await waitFor('the delivery on the agent\'s timeline', () => agent.evaluate(() => (document.getElementById('timeline') || {}).textContent || '').then((t) => /SMS|sms/.test(t)));
      await shoot(agent, lang, 'agent-call-details', DESKTOP, problems);

      // A link preview (no cookies) binds nothing.
      const preview = await fetch(link[0]);
      assert.equal(preview.status, 200);
      assert.equal(preview.headers.get('set-cookie'), null);

      // The client: a phone.
      const clientCtx = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 3, isMobile: true, hasTouch: true, locale: lang, permissions: ['camera', 'microphone'],
        userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36' });
      await clientCtx.addInitScript(FACING_SHIM);
      const client = await clientCtx.newPage();
      client.on('pageerror', (e) => console.log(`[client page error] ${e.message}`));
      await client.goto(link[0]);
      await client.waitForSelector('#agree');
      const capturing = await client.evaluate(() => /** @type {any} */ (window).vchatCall !== undefined);
      assert.equal(capturing, false, 'nothing is captured before consent');
      await shoot(client, lang, 'client-consent', PHONE, problems);
      await client.tap('label[for=agree]');
      await client.tap('button.primary.wide');
      await client.waitForSelector('#connect:not([disabled])', { timeout: 20000 });
      await shoot(client, lang, 'client-device-check', PHONE, problems);
      await waitFor('the device check on the agent\'s timeline', () => agent.evaluate(() => (document.getElementById('timeline') || {}).textContent || '')
        .then((t) => (lang === 'ru' ? /Проверка устройств/ : /Device check/).test(t)));

      // Connect; the agent joins.
      const connectAt = Date.now();
      await client.tap('#connect');
      await agent.click('#join');
      await waitFor('video decoded both ways', async () => {
        const [a, c] = [await callStats(agent), await callStats(client)];
        return a && c && a.framesDecoded > 10 && c.framesDecoded > 10 && a.audioIn > 20 && c.audioIn > 20 ? [a, c] : null;
      }, 30000);
      console.log(`${lang}: connect → media both ways in ${Date.now() - connectAt} ms`);
      await waitFor('the agent sees the client connected', () => agent.evaluate(() => (document.getElementById('client-phase') || {}).textContent || '')
        .then((t) => (lang === 'ru' ? /на связи|Путь медиа/ : /connected|Media path/).test(t)));
      await shoot(client, lang, 'client-call', PHONE, problems);
      await shoot(agent, lang, 'agent-call', DESKTOP, problems);

      // Chat both ways.
      await agent.fill('vchat-chat textarea', lang === 'ru' ? 'Здравствуйте! Покажите счётчик.' : 'Hello! Show me the meter.');
      await agent.click('vchat-chat button[type=submit]');
      await client.tap('.chat-toggle');
      await client.waitForSelector('vchat-chat li.theirs');
      await client.fill('vchat-chat textarea', lang === 'ru' ? 'Вот он' : 'Here it is');
      await client.tap('vchat-chat button[type=submit]');
      await agent.waitForSelector('vchat-chat li.theirs');

      // A 10 MB file each way.
      const fromAgent = randomBytes(10 * 1024 * 1024);
      const fromClient = randomBytes(10 * 1024 * 1024);
      const hash = (b) => createHash('sha256').update(b).digest('hex');
      await agent.setInputFiles('vchat-chat input[type=file]', { name: 'manual.pdf', mimeType: 'application/pdf', buffer: fromAgent });
      await client.setInputFiles('vchat-chat input[type=file]', { name: 'meter.bin', mimeType: 'application/octet-stream', buffer: fromClient });
      const clientToken = await client.evaluate(() => /** @type {any} */ (window).vchatClient.state.opened.token);
      const fileAtClient = await waitFor('the agent\'s file at the client', () => client.evaluate(() => {
        const b = Array.from(document.querySelectorAll('vchat-chat li.theirs .file button')).find((x) => /manual\.pdf/.test(x.textContent || ''));
        return b ? /** @type {HTMLElement} */ (b.closest('li')).dataset.id : null;
      }), 60000);
      const fileAtAgent = await waitFor('the client\'s file at the agent', () => agent.evaluate(() => {
        const b = Array.from(document.querySelectorAll('vchat-chat li.theirs .file button')).find((x) => /meter\.bin/.test(x.textContent || ''));
        return b ? /** @type {HTMLElement} */ (b.closest('li')).dataset.id : null;
      }), 60000);
      const messages = await api('GET', `/api/interactions/${interaction}/messages`);
      const fileOf = (id) => messages.find((m) => m.id === id).file;
      assert.equal(await sha256InPage(client, fileOf(fileAtClient), clientToken), hash(fromAgent), 'the client got the agent\'s file whole');
      assert.equal(await sha256InPage(agent, fileOf(fileAtAgent)), hash(fromClient), 'the agent got the client\'s file whole');
      await shoot(client, lang, 'client-chat', PHONE, problems);
      await client.tap('.chat-toggle');

      // Camera switch: front (device 0) → back (device 2), without renegotiation: the
      // same sender, the old camera stopped first, frames keep reaching the agent.
      const switchBefore = await client.evaluate(() => {
        const c = /** @type {any} */ (window).vchatCall;
        return { transceivers: c.session.pc.getTransceivers().length, label: c.videoSender.track.label };
      });
      assert.equal(switchBefore.label, 'fake_device_0', 'the front camera first');
      const decodedBefore = (await callStats(agent)).framesDecoded;
      await client.tap('.toolbar button[aria-label="' + (lang === 'ru' ? 'Сменить камеру' : 'Switch camera') + '"]');
      const switched = await waitFor('the back camera on the sender', () => client.evaluate(() => {
        const c = /** @type {any} */ (window).vchatCall;
        const old = c.local.getVideoTracks().filter((t) => t.label === 'fake_device_0');
        return c.videoSender.track && c.videoSender.track.label === 'fake_device_2' && old.length === 0
          ? { transceivers: c.session.pc.getTransceivers().length, label: c.videoSender.track.label } : null;
      }), 10000);
      assert.equal(switched.transceivers, switchBefore.transceivers, 'replaceTrack, no new transceiver');
      const decodedAfter = await waitFor('frames of the back camera at the agent', async () => {
        await sleep(1000);
        const now = (await callStats(agent)).framesDecoded;
        return now > decodedBefore + 20 ? now : null;
      }, 10000);
      console.log(`${lang}: camera switch: ${switchBefore.label} → ${switched.label}; the agent decoded ${decodedBefore} → ${decodedAfter} frames`);
      const mirrored = await client.evaluate(() => document.querySelector('vchat-tile.self')?.hasAttribute('data-mirror'));
      assert.equal(mirrored, false, 'the back camera is not mirrored');

      // Quality cap 480p.
      const high = await waitFor('the client sending above 480 lines', async () => {
        const s = await callStats(client);
        return s && s.outHeight > 480 ? s.outHeight : null;
      }, 15000);
      const capAt = Date.now();
      await agent.selectOption('#quality-cap', '480p');
      const capped = await waitFor('the client\'s outbound frameHeight ≤ 480', async () => {
        const s = await callStats(client);
        return s && s.outHeight > 0 && s.outHeight <= 480 ? s.outHeight : null;
      }, 5000);
      console.log(`${lang}: quality cap: ${high} → ${capped} lines in ${Date.now() - capAt} ms`);

      // The agent shares a screen: the client decodes a second video.
      await agent.click('.toolbar button[aria-label="' + (lang === 'ru' ? 'Показать экран' : 'Share screen') + '"]');
      await waitFor('a second video decoded at the client', async () => {
        const s = await callStats(client);
        const tile = await client.evaluate(() => /** @type {HTMLVideoElement | null} */ (document.querySelector('vchat-tile.screen video'))?.videoWidth || 0);
        return s && s.videosDecoding >= 2 && tile > 0;
      }, 20000);
      await shoot(client, lang, 'client-screen-share', PHONE, problems);

      // The agent ends; the client gets the survey, answers, is redirected.
      await agent.click('.toolbar .hang-up');
      await client.waitForSelector('form.survey', { timeout: 15000 });
      const stopped = await client.evaluate(() => /** @type {any} */ (window).vchatCall.local.getTracks().every((t) => t.readyState === 'ended'));
      assert.ok(stopped, 'the client\'s camera and microphone are off after the end');
      await shoot(client, lang, 'client-survey', PHONE, problems);
      await client.tap('label[for=score-5]');
      await client.fill('#comment', lang === 'ru' ? 'Быстро и понятно' : 'Quick and clear');
      await client.tap('form.survey button[type=submit]');
      await client.waitForSelector('text=' + (lang === 'ru' ? 'Спасибо за ответ!' : 'Thank you for your answer!'));
      await shoot(client, lang, 'client-thanks', PHONE, problems);
      await client.waitForURL((u) => u.href === redirect, { timeout: 10000 });

      // The CDR: consent, survey, files.
      const cdr = await waitFor('the CDR with the survey', async () => {
        const c = await api('GET', `/api/interactions/${interaction}/cdr`).catch(() => null);
        return c && c.survey_score === 5 ? c : null;
      }, 15000);
      assert.ok(cdr.consent && cdr.consent.version && cdr.consent.at, `consent in the CDR: ${JSON.stringify(cdr.consent)}`);
      assert.equal(cdr.survey_comment, lang === 'ru' ? 'Быстро и понятно' : 'Quick and clear');
      assert.equal(cdr.files, 2, 'two files in the CDR');
      assert.deepEqual(cdr.shared_files.map((f) => f.size), [10485760, 10485760], JSON.stringify(cdr.shared_files));
      await agent.waitForSelector('#notes', { timeout: 15000 });
      await agent.fill('#notes', lang === 'ru' ? 'Счётчик в порядке' : 'The meter is fine');
      await agent.click('form.after button[type=submit]');
      await waitFor('the notes saved', async () => (await api('GET', `/api/interactions/${interaction}`)).notes !== '');
      await shoot(agent, lang, 'agent-after-call', DESKTOP, problems);

      // A link that no longer works: a styled page in the person's language.
      await client.goto(`${server.base}/j/nosuchlink1`);
      await shoot(client, lang, 'client-no-such-link', PHONE, problems);
      assert.deepEqual(problems, [], `axe found serious or critical problems:\n${problems.join('\n')}`);
    } finally {
      await browser.close();
      await server.stop();
      smsc.close();
    }
  });
}
