// Chromium publishes its camera as simulcast (three layers, lowest first); the SFU
// gives the other side the best layer under the call's cap. Lowering the cap to 480p
// mid-call brings the agent's received video to 480 lines or fewer within a second or
// two while the client still sends 720; raising it brings 720 back.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adminApi, agentCreatesCall, launchAppsBrowser } from './apps.js';
import { startServer, sleep, waitFor } from './harness.js';

/** The tallest video a page receives and sends now, and how many layers it sends. */
function heights(page) {
  return page.evaluate(async () => {
    const c = window.vchatCall;
    const pc = c && c.session && c.session.pc;
    if (!pc) return null;
    const out = { inHeight: 0, outHeight: 0, layersSent: 0, framesDecoded: 0 };
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video' && s.frameHeight) {
        out.inHeight = Math.max(out.inHeight, s.frameHeight);
        out.framesDecoded += s.framesDecoded || 0;
      }
      if (s.type === 'outbound-rtp' && s.kind === 'video' && (s.bytesSent || 0) > 0) {
        out.layersSent += 1;
        out.outHeight = Math.max(out.outHeight, s.frameHeight || 0);
      }
    });
    return out;
  });
}

test('the cap holds at the SFU whatever the client sends', { timeout: 180000 }, async () => {
  const server = await startServer({});
  const api = adminApi(server);
  const browser = await launchAppsBrowser();
  try {
    await api('POST', '/api/users', { login: 'anna', name: 'Anna', role: 'agent', password: 'correct horse battery' });
    const agent = await (await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en', permissions: ['camera', 'microphone'] })).newPage();
    const { link, interaction } = await agentCreatesCall(agent, server.base, 'anna', 'correct horse battery', 'Capped');
    const client = await (await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en', permissions: ['camera', 'microphone'] })).newPage();
    await client.goto(link);
    await client.waitForSelector('button.primary.wide');
    if (await client.$('#agree')) await client.click('label[for=agree]');
    await client.click('button.primary.wide');
    await client.waitForSelector('#connect:not([disabled])', { timeout: 20000 });
    await client.click('#connect');
    await agent.click('#join');

    // 720p: the client sends its three layers; the agent gets the top one.
    await waitFor('720 lines at the agent from a simulcast client', async () => {
      const [a, c] = [await heights(agent), await heights(client)];
      return a && c && c.layersSent === 3 && a.inHeight === 720;
    }, 40000);
    const before = await heights(client);
    console.log(`720p cap: the client sends ${before.layersSent} layers, the tallest ${before.outHeight} lines; the agent gets 720`);

    // 480p mid-call: within two seconds the agent gets 480 lines or fewer.
    await api('PATCH', `/api/interactions/${interaction}`, { max_quality: '480p' });
    const t0 = Date.now();
    await waitFor('480 lines or fewer at the agent', async () => {
      const a = await heights(agent);
      return a && a.inHeight > 0 && a.inHeight <= 480;
    }, 5000);
    const took = Date.now() - t0;
    let worst = 0;
    let sent = 0;
    for (let i = 0; i < 10; i += 1) {
      await sleep(300);
      const [a, c] = [await heights(agent), await heights(client)];
      worst = Math.max(worst, a.inHeight);
      sent = Math.max(sent, c.outHeight);
    }
    console.log(`480p cap: the agent at ${worst} lines after ${took} ms (the client sends up to ${sent} lines)`);
    assert.ok(worst <= 480, `the cap holds: ${worst}`);
    assert.ok(took <= 2000, `within two seconds: ${took} ms`);

    // Raised again: 720 comes back.
    await api('PATCH', `/api/interactions/${interaction}`, { max_quality: '720p' });
    const t1 = Date.now();
    await waitFor('720 lines again', async () => ((await heights(agent)) || { inHeight: 0 }).inHeight === 720, 10000);
    console.log(`720p again after ${Date.now() - t1} ms`);
  } finally {
    await browser.close();
    await server.stop();
  }
});
