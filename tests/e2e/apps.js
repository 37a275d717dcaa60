// What the app tests share: the admin's API calls, an agent signing in and creating a
// call in the agent app, a page's call statistics, and the browser they run in.

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { DESKTOP, PHONE, sleep } from './harness.js';

/** Where the screenshots go. */
export const SCREENS = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../docs/screens');
const axeSource = createRequire(import.meta.url)('axe-core').source;

/**
 * The API as the server's bootstrap token (the operator's automation).
 * @param {{base: string, apiToken: string}} server
 */
export function adminApi(server) {
  return async (method, p, body) => {
    const r = await fetch(`${server.base}${p}`, {
      method, headers: { Authorization: `Bearer ${server.apiToken}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

/**
 * Signs `login` in on the agent app and creates a call for `client` (`video`:
 * `two_way` or `one_way`); returns the interaction id and the client's link. (A
 * playwright page.)
 */
export async function agentCreatesCall(page, base, login, password, client, video = 'two_way') {
  await page.goto(`${base}/agent/`);
  await page.fill('#login', login);
  await page.fill('#password', password);
  await page.click('form.signin button[type=submit]');
  await page.click('#new-call');
  await page.fill('#c-name', client);
  await page.selectOption('#c-video', video);
  await page.click('#create');
  await page.waitForSelector('#link-url');
  return { link: await page.inputValue('#link-url'), interaction: await page.evaluate(() => window.vchatAgent.state.selected) };
}

/**
 * A page's call as getStats says: audio packets and video bytes in, frames decoded,
 * how many inbound videos decode, the tallest video sent. `evaluate` runs a function
 * in the page (playwright's or puppeteer's).
 */
export function callStats(evaluate) {
  return evaluate(async () => {
    const c = window.vchatCall;
    const pc = c && c.session && c.session.pc;
    if (!pc) return null;
    const out = { audioIn: 0, videoIn: 0, framesDecoded: 0, videosDecoding: 0, outHeight: 0, state: pc.connectionState };
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') out.audioIn += s.packetsReceived || 0;
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        out.videoIn += s.bytesReceived || 0;
        out.framesDecoded += s.framesDecoded || 0;
        if ((s.framesDecoded || 0) > 0) out.videosDecoding += 1;
      }
      if (s.type === 'outbound-rtp' && s.kind === 'video' && s.frameHeight) out.outHeight = Math.max(out.outHeight, s.frameHeight);
    });
    return out;
  });
}

/**
 * Headless Chromium with fake camera and microphone, for pages opened in their own
 * contexts (each with its viewport, locale and permissions); `extraArgs` add flags
 * (a file for the fake microphone, say).
 * @param {string[]} [extraArgs]
 */
export function launchAppsBrowser(extraArgs = []) {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu',
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection', ...extraArgs] });
}

/**
 * Screenshots `page` at both sizes (then back to desktop) and collects axe's serious
 * and critical findings.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {string[]} problems
 */
export async function shootChecked(page, name, problems) {
  for (const [size, viewport] of [['phone', PHONE], ['desktop', DESKTOP]]) {
    await page.setViewportSize(viewport);
    await sleep(400);
    await page.screenshot({ path: path.join(SCREENS, `${name}-${size}.png`), scale: 'css', fullPage: size === 'phone' });
  }
  await page.setViewportSize(DESKTOP);
  await sleep(200);
  if (!(await page.evaluate(() => typeof (/** @type {any} */ (window).axe) !== 'undefined'))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const r = await /** @type {any} */ (window).axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  for (const v of violations) problems.push(`${name}: ${v}`);
}
