// vchat on HTTPS with a certificate from an ACME CA (Debian's pebble, its root trusted
// in Chromium's NSS database): the agent and a phone-sized client load the pages over
// HTTP/2, the phone gets camera and microphone (a secure page) and they talk; every
// page carries its security headers; a script injected into a chat message runs on
// neither side. The same client page over plain HTTP on a LAN name is not secure: no
// camera, no microphone, and the page says why.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { adminApi, agentCreatesCall, callStats } from './apps.js';
import { DESKTOP, PHONE, shoot, startServer, waitFor } from './harness.js';
import { freePort, homeTrusting, startPebble } from './pebble.js';

const NAME = 'vchat.test';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required',
  `--host-resolver-rules=MAP ${NAME} 127.0.0.1, MAP lan.test 127.0.0.1`];
const XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> look';

/** @param {Record<string, string>} h */
function checkHeaders(h, page) {
  const csp = h['content-security-policy'] || '';
  for (const part of ["default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"]) {
    assert.ok(csp.includes(part), `${page}: CSP has ${part}: ${csp}`);
  }
  assert.ok(!/unsafe-inline|unsafe-eval/.test(csp), `${page}: no unsafe sources`);
  assert.equal(h['strict-transport-security'], 'max-age=31536000', `${page}: HSTS`);
  assert.equal(h['x-content-type-options'], 'nosniff', `${page}: nosniff`);
  assert.equal(h['x-frame-options'], 'DENY', `${page}: no frames`);
  assert.equal(h['referrer-policy'], 'no-referrer', `${page}: referrer`);
}

test('over HTTPS a phone gets camera and microphone and calls; plain HTTP on a LAN name does not', async () => {
  const port = await freePort();
  const pebble = await startPebble(port);
  const server = await startServer({
    VCHAT_TLS_ACME_NAMES: NAME, VCHAT_TLS_ACME_DIRECTORY: pebble.directory, VCHAT_TLS_ACME_CA_ROOT: pebble.apiCa,
  }, { http: `127.0.0.1:${port}` });
  const plain = await startServer();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: FLAGS, env: { ...process.env, HOME: homeTrusting(pebble.root) } });
  try {
    assert.equal(server.base, `https://${NAME}:${port}`);
    await waitFor('the ACME certificate', () => server.log().includes('ACME: new certificate in use'), 30000);

    // Every page, loaded by a browser that trusts only what its NSS database says.
    const agentCtx = await browser.newContext({ viewport: DESKTOP, locale: 'en', permissions: ['camera', 'microphone'] });
    const agent = await agentCtx.newPage();
    for (const page of ['/agent/', '/admin/', '/client/', '/j/nope']) {
      const r = await agent.goto(`${server.base}${page}`);
      assert.ok(r, page);
      checkHeaders(await r.allHeaders(), page);
      const tls = await r.securityDetails();
      if (page === '/agent/') console.log(`${page}: ${tls?.protocol}, issued by ${tls?.issuer}, ${await agent.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol)}`);
    }
    await agent.goto(`${server.base}/agent/`);
    assert.equal(await agent.evaluate(() => window.isSecureContext), true);
    // The operator's API call, from the trusted page.
    await agent.evaluate(async (token) => {
      const r = await fetch('/api/users', { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ login: 'anna', name: 'Anna', role: 'agent', password: 'correct horse battery' }) });
      if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
    }, server.apiToken);
    const { link } = await agentCreatesCall(agent, server.base, 'anna', 'correct horse battery', 'Secure client');
    assert.ok(link.startsWith(`https://${NAME}:${port}/j/`), link);

    const clientCtx = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true, locale: 'en', permissions: ['camera', 'microphone'] });
    const client = await clientCtx.newPage();
    await client.goto(link);
    const secure = await client.evaluate(() => ({ secure: window.isSecureContext, media: !!navigator.mediaDevices, protocol: performance.getEntriesByType('navigation')[0].nextHopProtocol }));
    assert.deepEqual(secure, { secure: true, media: true, protocol: 'h2' });
    await client.tap('label[for=agree]');
    await client.tap('button.primary.wide');
    await client.waitForSelector('#connect:not([disabled])', { timeout: 20000 });
    assert.equal(await client.$('#insecure'), null, 'a secure page says nothing about security');
    await client.tap('#connect');
    await agent.click('#join');
    const decoded = async (page) => (await callStats((f) => page.evaluate(f)))?.framesDecoded || 0;
    await waitFor('video at the client', async () => (await decoded(client)) > 20, 30000);
    await waitFor('video at the agent', async () => (await decoded(agent)) > 20, 30000);
    console.log(`HTTPS call: the client decoded ${await decoded(client)} frames, the agent ${await decoded(agent)}`);

    // A script in a chat message is text on both sides, and the page's policy would
    // refuse it even if it were markup.
    await agent.fill('vchat-chat textarea', XSS);
    await agent.click('vchat-chat button[type=submit]');
    await client.tap('.chat-toggle');
    await client.waitForSelector('vchat-chat li.theirs');
    const shown = await client.$eval('vchat-chat li.theirs', (li) => li.textContent || '');
    assert.ok(shown.includes('<script>window.__xss=2</script>'), `shown as text: ${shown}`);
    const blocked = await client.evaluate(() => new Promise((resolve) => {
      let violations = 0;
      document.addEventListener('securitypolicyviolation', () => { violations += 1; });
      const s = document.createElement('script');
      s.textContent = 'window.__xss = 3';
      document.body.append(s);
      const d = document.createElement('div');
      d.setAttribute('onclick', 'window.__xss = 4');
      document.body.append(d);
      d.click();
      setTimeout(() => resolve({ ran: /** @type {any} */ (window).__xss, violations }), 500);
    }));
    assert.equal(blocked.ran, undefined, 'no injected script ran');
    assert.ok(blocked.violations >= 2, `the policy refused both: ${JSON.stringify(blocked)}`);
    assert.equal(await agent.evaluate(() => /** @type {any} */ (window).__xss), undefined);
    console.log(`injected scripts: none ran; ${blocked.violations} refused by the content-security policy`);

    // Plain HTTP on a LAN name: not a secure page.
    const plainAgent = await (await browser.newContext({ viewport: DESKTOP, locale: 'en' })).newPage();
    await adminApi(plain)('POST', '/api/users', { login: 'boris', name: 'Boris', role: 'agent', password: 'correct horse battery' });
    const other = await agentCreatesCall(plainAgent, plain.base, 'boris', 'correct horse battery', 'LAN client');
    const lanLink = other.link.replace('127.0.0.1', 'lan.test');
    const lan = await (await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true, locale: 'en' })).newPage();
    await lan.goto(lanLink);
    const insecure = await lan.evaluate(() => ({ secure: window.isSecureContext, media: !!navigator.mediaDevices }));
    assert.deepEqual(insecure, { secure: false, media: false });
    await lan.tap('label[for=agree]');
    await lan.tap('button.primary.wide');
    await lan.waitForSelector('#insecure');
    console.log(`plain HTTP on lan.test: ${JSON.stringify(insecure)}; the page says: ${await lan.textContent('#insecure')}`);
    await shoot(lan, 'ru-client-insecure', PHONE);
    await lan.tap('text=English');
    await lan.waitForSelector('#insecure');
    assert.match(await lan.textContent('#insecure') || '', /secure page/);
    await shoot(lan, 'en-client-insecure', PHONE);
  } finally {
    await browser.close();
    await server.stop();
    await plain.stop();
    pebble.stop();
  }
});
