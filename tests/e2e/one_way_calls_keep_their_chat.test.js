// A one-way call (the client's camera only) in Chromium: the agent sends sound but no
// video; an image shared in the chat is previewed on the other side; an upload can be
// cancelled mid-way (nothing is posted); and after the client reloads its page (the same
// device: no new consent) the call and the chat's history come back.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adminApi, agentCreatesCall, launchAppsBrowser, callStats as statsOf } from './apps.js';
import { startServer, sleep, waitFor } from './harness.js';

// A 1×1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

test('a one-way call keeps its chat across a reload', { timeout: 180000 }, async () => {
  const server = await startServer({ VCHAT_INTERACTIONS_EMPTY_END_SECS: '60' });
  const api = adminApi(server);
  const browser = await launchAppsBrowser();
  try {
    await api('POST', '/api/users', { login: 'anna', name: 'Anna', role: 'agent', password: 'correct horse battery' });
    const agent = await (await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en', permissions: ['camera', 'microphone'] })).newPage();
    const { link, interaction } = await agentCreatesCall(agent, server.base, 'anna', 'correct horse battery', 'One way', 'one_way');

    const clientCtx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'en', permissions: ['camera', 'microphone'] });
    const client = await clientCtx.newPage();
    const joinAsClient = async () => {
      await client.waitForSelector('button.primary.wide');
      if (await client.$('#agree')) await client.tap('label[for=agree]');
      await client.tap('button.primary.wide');
      await client.waitForSelector('#connect:not([disabled])', { timeout: 20000 });
      await client.tap('#connect');
    };
    await client.goto(link);
    await joinAsClient();
    await agent.click('#join');
    const clientStats = () => statsOf((f) => client.evaluate(f));
    await waitFor('the client\'s video at the agent and the agent\'s sound at the client', async () => {
      const [a, c] = [await statsOf((f) => agent.evaluate(f)), await clientStats()];
      return a && c && a.framesDecoded > 10 && c.audioIn > 20;
    }, 30000);
    const agentSends = await agent.evaluate(() => window.vchatCall.session.pc.getSenders().filter((s) => s.track).map((s) => s.track.kind));
    assert.deepEqual(agentSends, ['audio'], 'a one-way call sends no video of the agent');
    assert.equal((await clientStats()).framesDecoded, 0, 'the client decodes no video');

    // An image is previewed on the other side.
    await agent.setInputFiles('vchat-chat input[type=file]', { name: 'arrow.png', mimeType: 'image/png', buffer: PNG });
    await client.tap('.chat-toggle');
    await waitFor('the image previewed at the client', () => client.evaluate(() => {
      const img = document.querySelector('vchat-chat img.preview');
      return img && img.complete && img.naturalWidth === 1;
    }), 15000);

    // A cancelled upload posts nothing. The agent's uploads are throttled to 1 MB/s
    // meanwhile (DevTools network emulation), so the cancel comes mid-way on loopback.
    const cdp = await agent.context().newCDPSession(agent);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 1024 * 1024 });
    await agent.setInputFiles('vchat-chat input[type=file]', { name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(20 * 1024 * 1024, 1) });
    await agent.waitForSelector('vchat-chat .upload button');
    await sleep(500);
    const sent = await agent.$eval('vchat-chat .upload progress', (p) => p.value);
    assert.ok(sent < 100, `cancelled mid-way (${sent} %)`);
    await agent.click('vchat-chat .upload button');
    await waitFor('the upload row gone', async () => !(await agent.$('vchat-chat .upload')), 10000);
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await agent.fill('vchat-chat textarea', 'Before the reload');
    await agent.click('vchat-chat button[type=submit]');
    await client.waitForSelector('text=Before the reload');
    await sleep(1000);
    const messages = await api('GET', `/api/interactions/${interaction}/messages`);
    assert.deepEqual(messages.map((m) => m.text), ['arrow.png', 'Before the reload'], 'the cancelled file was not posted');

    // The client reloads: no consent again, the call and the history come back.
    await client.reload();
    await joinAsClient();
    await waitFor('the agent\'s sound again', async () => ((await clientStats()) || { audioIn: 0 }).audioIn > 20, 30000);
    await client.tap('.chat-toggle');
    await client.waitForSelector('text=Before the reload', { timeout: 10000 });
    assert.ok(await client.$('vchat-chat img.preview'), 'the image is in the restored history');
    const consents = (await api('GET', `/api/interactions/${interaction}/events`)).filter((e) => e.kind === 'consent.given').length;
    assert.equal(consents, 1, 'the same device consents once');
    console.log('one-way call: the agent sent audio only; image previewed; cancelled upload not posted; history back after a reload');
  } finally {
    await browser.close();
    await server.stop();
  }
});
