// Run inside the namespace by firefox_client_holds_a_whole_call.test.js: the agent in
// Chromium, the client in Firefox (desktop) through the client's page: consent, device
// check, connect, audio and video both ways, chat and a 10 MB file each way, a still
// from Firefox's camera (a canvas: Firefox has no ImageCapture), the end,
// the survey, the CDR. Exits 0 when all of it worked.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';
import { adminApi, agentCreatesCall, callStats } from '../apps.js';
import { startServer, waitFor } from '../harness.js';

const addr = process.env.VCHAT_NETNS_ADDR;
assert.ok(addr, 'VCHAT_NETNS_ADDR names the namespace address');
const server = await startServer({ VCHAT_MEDIA_BIND_IP: addr });
const api = adminApi(server);

const cBrowser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required',
  '--disable-features=WebRtcHideLocalIpsWithMdns'] });
const fBrowser = await puppeteer.launch({ browser: 'firefox', executablePath: '/usr/bin/firefox-esr', headless: true,
  extraPrefsFirefox: { 'media.navigator.streams.fake': true, 'media.navigator.permission.disabled': true,
    'media.autoplay.default': 0, 'media.autoplay.blocking_policy': 0, 'media.peerconnection.ice.obfuscate_host_addresses': false } });
try {
  await api('PATCH', '/api/tenants/root', { language: 'en', branding: { company_name: 'Daisy Ltd', consent_text: 'This call is recorded.' } });
  await api('POST', '/api/users', { login: 'anna', name: 'Anna Smith', role: 'agent', password: 'correct horse battery' });
  const agent = await (await cBrowser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en', permissions: ['camera', 'microphone'] })).newPage();
  const { link, interaction } = await agentCreatesCall(agent, server.base, 'anna', 'correct horse battery', 'Firefox user');

  const client = await fBrowser.newPage();
  await client.setViewport({ width: 1280, height: 800 });
  client.on('pageerror', (e) => console.log(`[firefox page error] ${e.message}`));
  await client.goto(link);
  await client.waitForSelector('#agree');
  await client.click('#agree');
  await client.click('button.primary.wide');
  await client.waitForSelector('#connect:not([disabled])', { timeout: 20000 });
  await client.click('#connect');
  await agent.waitForSelector('#join');
  await agent.click('#join');
  await waitFor('media both ways (Firefox ↔ Chromium)', async () => {
    const [a, c] = [await callStats((f) => agent.evaluate(f)), await callStats((f) => client.evaluate(f))];
    return a && c && a.framesDecoded > 10 && c.framesDecoded > 10 && a.audioIn > 20 && c.audioIn > 20 ? [a, c] : null;
  }, 30000).then(([a, c]) => console.log(`Firefox client: the agent decoded ${a.framesDecoded} frames, Firefox ${c.framesDecoded}`));

  // Chat both ways.
  await agent.fill('vchat-chat textarea', 'Hello from the agent');
  await agent.click('vchat-chat button[type=submit]');
  await waitFor('the agent\'s message in Firefox', () => client.evaluate(() => document.querySelector('vchat-chat')?.textContent.includes('Hello from the agent')));
  await client.$eval('vchat-chat textarea', (el) => { el.value = 'Hello from Firefox'; });
  await client.click('vchat-chat button[type=submit]');
  await waitFor('Firefox\'s message at the agent', () => agent.evaluate(() => document.querySelector('vchat-chat')?.textContent.includes('Hello from Firefox')));

  // A 10 MB file from Firefox (through the chat panel's upload), hashed on both ends.
  const sent = await client.evaluate(async () => {
    const bytes = new Uint8Array(10 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    document.querySelector('vchat-chat').sendFile(new File([bytes], 'from-firefox.bin'));
    return Array.from(new Uint8Array(digest)).map((b) => b.toString(16).padStart(2, '0')).join('');
  });
  const fileId = await waitFor('Firefox\'s file in the chat', async () => {
    const m = (await api('GET', `/api/interactions/${interaction}/messages`)).find((x) => x.text === 'from-firefox.bin');
    return m && m.file;
  }, 60000);
  const got = await agent.evaluate(async (id) => {
    const r = await fetch(`/api/files/${id}`, { credentials: 'same-origin' });
    const d = await crypto.subtle.digest('SHA-256', await r.arrayBuffer());
    return Array.from(new Uint8Array(d)).map((b) => b.toString(16).padStart(2, '0')).join('');
  }, fileId);
  assert.equal(got, sent, 'the agent got Firefox\'s file whole');
  // And one from the agent, read back in Firefox with its join token.
  const fromAgent = Buffer.alloc(10 * 1024 * 1024, 7);
  await agent.setInputFiles('vchat-chat input[type=file]', { name: 'to-firefox.bin', mimeType: 'application/octet-stream', buffer: fromAgent });
  const agentFile = await waitFor('the agent\'s file in the chat', async () => {
    const m = (await api('GET', `/api/interactions/${interaction}/messages`)).find((x) => x.text === 'to-firefox.bin');
    return m && m.file;
  }, 60000);
  await waitFor('the agent\'s file shown in Firefox', () => client.evaluate(() => document.querySelector('vchat-chat')?.textContent.includes('to-firefox.bin')));
  const inFirefox = await client.evaluate(async (id) => {
    const token = window.vchatClient.state.opened.token;
    const r = await fetch(`/api/files/${id}`, { headers: { Authorization: `Bearer ${token}` } });
    const d = await crypto.subtle.digest('SHA-256', await r.arrayBuffer());
    return Array.from(new Uint8Array(d)).map((b) => b.toString(16).padStart(2, '0')).join('');
  }, agentFile);
  assert.equal(inFirefox, createHash('sha256').update(fromAgent).digest('hex'), 'Firefox got the agent\'s file whole');

  // A still asked of Firefox's camera: no ImageCapture there, so the canvas path.
  assert.equal(await client.evaluate(() => typeof window.ImageCapture), 'undefined');
  await agent.click('button.tool[aria-label="Photo from the client\'s camera"]');
  await agent.waitForSelector('.overlay .annotator canvas', { timeout: 15000 });
  const still = await client.evaluate(() => window.vchatClient.lastStill);
  const size = await client.evaluate(() => { const v = window.vchatCall.self.video; return [v.videoWidth, v.videoHeight]; });
  assert.equal(still.method, 'canvas', JSON.stringify(still));
  assert.deepEqual([still.width, still.height], size, 'the still has the preview\'s size');
  console.log(`Firefox still: ${still.method}, ${still.width}x${still.height}`);
  await agent.click('.annotator footer button:not(.primary):not(.link)');

  // The end, the survey, the CDR.
  await agent.click('.toolbar .hang-up');
  await client.waitForSelector('form.survey', { timeout: 15000 });
  await client.click('label[for=score-4]');
  await client.click('form.survey button[type=submit]');
  await client.waitForFunction(() => document.body.textContent.includes('Thank you for your answer!'));
  const cdr = await waitFor('the CDR with the survey', async () => {
    const c = await api('GET', `/api/interactions/${interaction}/cdr`).catch(() => null);
    return c && c.survey_score === 4 ? c : null;
  }, 15000);
  assert.ok(cdr.consent && /Firefox/.test(cdr.consent.user_agent || ''), `the consent names Firefox: ${JSON.stringify(cdr.consent)}`);
  assert.equal(cdr.files, 2);
} finally {
  await cBrowser.close();
  await fBrowser.close();
  assert.equal(await server.stop(), 0, 'vchat exits cleanly');
}
console.log('the Firefox client held a whole call');
