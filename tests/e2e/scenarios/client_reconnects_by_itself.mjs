// Run inside the namespace by calls_reconnect_by_themselves.test.js. The media path
// is cut twice with nobody clicking: the namespace's veth (which carries the server's
// media address) down for 2 s — the browsers do not even notice — and the address
// itself gone for 12 s — a network change the browsers notice: both pages say
// "reconnecting" (the agent's own, or "the other side is reconnecting" from the
// client's report), restart ICE, and the client reports `reconnecting` then
// `connected` to the agent. Each time, media must be back within 3 s of the path returning.
// Prints each figure; exits 0 when all of it held.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { adminApi, agentCreatesCall, callStats } from '../apps.js';
import { startServer, sleep, waitFor } from '../harness.js';

const addr = process.env.VCHAT_NETNS_ADDR;
const dev = process.env.VCHAT_NETNS_DEV;
assert.ok(addr && dev, 'VCHAT_NETNS_ADDR and VCHAT_NETNS_DEV name the namespace address and its link');
const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const server = await startServer({ VCHAT_MEDIA_BIND_IP: addr, VCHAT_INTERACTIONS_EMPTY_END_SECS: '60' });
const api = adminApi(server);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required'] });
let failed = false;
try {
  await api('POST', '/api/users', { login: 'anna', name: 'Anna', role: 'agent', password: 'correct horse battery' });
  const agent = await (await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en' })).newPage();
  const { link, interaction } = await agentCreatesCall(agent, server.base, 'anna', 'correct horse battery', 'Moving client');
  const client = await (await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'en' })).newPage();
  await client.goto(link);
  await client.tap('label[for=agree]');
  await client.tap('button.primary.wide');
  await client.waitForSelector('#connect:not([disabled])', { timeout: 20000 });
  await client.tap('#connect');
  await agent.click('#join');
  const decoded = async () => (await callStats((f) => client.evaluate(f)))?.framesDecoded || 0;
  await waitFor('media at the client', async () => (await decoded()) > 20, 30000);

  for (const [outage, how] of [[2000, 'link'], [12000, 'address']]) {
    if (how === 'link') ip('link', 'set', dev, 'down');
    else ip('addr', 'del', `${addr}/24`, 'dev', dev);
    const cutAt = Date.now();
    let sawBanner = false;
    let agentBanner = false;
    const states = new Set();
    while (Date.now() - cutAt < outage) {
      sawBanner ||= await client.evaluate(() => !document.querySelector('.call-banner')?.classList.contains('hidden'));
      agentBanner ||= await agent.evaluate(() => !document.querySelector('.call-banner')?.classList.contains('hidden'));
      states.add(await client.evaluate(() => { const pc = window.vchatCall.session && window.vchatCall.session.pc; return pc ? `${pc.connectionState}/${pc.iceConnectionState}` : 'none'; }));
      await sleep(200);
    }
    const frozen = await decoded();
    if (how === 'link') ip('link', 'set', dev, 'up');
    else ip('addr', 'add', `${addr}/24`, 'dev', dev);
    try { ip('route', 'add', 'default', 'dev', dev); } catch (_) { /* still there */ }
    const upAt = Date.now();
    const base = await decoded();
    let back = 0;
    while (Date.now() - upAt < 20000) {
      // A page that noticed late still says so while the path comes back.
      agentBanner ||= await agent.evaluate(() => !document.querySelector('.call-banner')?.classList.contains('hidden'));
      const now = await decoded();
      if (now > base + 5) { back = Date.now() - upAt; break; }
      await sleep(100);
    }
    const phases = (await api('GET', `/api/interactions/${interaction}/events`))
      .filter((e) => e.kind === 'client.state').map((e) => e.data.state);
    console.log(`outage ${outage} ms (${how === 'link' ? 'link down' : 'address gone'}): frames ${frozen} → ${base}; media back ${back ? `${back} ms after the link came up` : 'NOT within 20 s'}; ` +
      `"reconnecting" shown to the client: ${sawBanner}, to the agent: ${agentBanner}; ICE restarts/rejoins: client ${await client.evaluate(() => `${window.vchatCall.iceRestarts}/${window.vchatCall.rejoins}`)}, agent ${await agent.evaluate(() => `${window.vchatCall.iceRestarts}/${window.vchatCall.rejoins}`)} (${[...states].join(' ')}); client states so far: ${phases.join(', ')}`);
    if (!back || back > 3000) failed = true;
    // A cut the browsers notice is said on both sides.
    if (how === 'address' && !(sawBanner && agentBanner && phases.includes('reconnecting'))) failed = true;
    await sleep(2000);
  }
  const state = (await api('GET', `/api/interactions/${interaction}`)).state;
  assert.equal(state, 'connected', 'the call went on');
} finally {
  await browser.close();
  await server.stop();
}
assert.equal(failed, false, 'media came back within 3 s after each outage, and the long one was said on both sides');
console.log('the call reconnected by itself');
