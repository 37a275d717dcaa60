// What the app tests share: the admin's API calls, an agent signing in and creating a
// call in the agent app, a page's call statistics, and the browser they run in.

import { chromium } from 'playwright-core';

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
 * contexts (each with its viewport, locale and permissions).
 */
export function launchAppsBrowser() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu',
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection'] });
}
