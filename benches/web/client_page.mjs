// The client's page measured in headless Chromium on loopback: its JS + CSS bytes
// (as the browser loaded them), first contentful paint over 10 cold loads (a new
// browser context each: no cache), and "Connect" → first decoded remote frame over 20
// joins of one call (the agent stays in; the client joins, is measured, leaves).
// Prints a table and writes results.json and connect.svg (the join times) beside it.
//
//   node benches/web/client_page.mjs        (needs `cargo build`; VCHAT_BIN to choose)

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const e2e = path.join(here, '../../tests/e2e');
const require = createRequire(path.join(e2e, 'package.json'));
const { chromium } = require('playwright-core');
const { startServer, waitFor } = await import(path.join(e2e, 'harness.js'));
const { adminApi, agentCreatesCall, callStats } = await import(path.join(e2e, 'apps.js'));

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };
const server = await startServer({ VCHAT_INTERACTIONS_EMPTY_END_SECS: '0' });
const api = adminApi(server);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection'] });
try {
  await api('POST', '/api/users', { login: 'anna', name: 'Anna', role: 'agent', password: 'correct horse battery' });
  const agent = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  const { link } = await agentCreatesCall(agent, server.base, 'anna', 'correct horse battery', 'Bench');

  // Bytes and first contentful paint, cold.
  const fcp = [];
  let bytes = { js: 0, css: 0, html: 0 };
  for (let i = 0; i < 10; i++) {
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const page = await ctx.newPage();
    await page.goto(link, { waitUntil: 'networkidle' });
    const m = await page.evaluate(() => {
      const paint = performance.getEntriesByName('first-contentful-paint')[0];
      const b = { js: 0, css: 0, html: performance.getEntriesByType('navigation')[0].encodedBodySize };
      for (const r of performance.getEntriesByType('resource')) {
        if (r.name.endsWith('.js')) b.js += r.encodedBodySize;
        else if (r.name.endsWith('.css')) b.css += r.encodedBodySize;
      }
      return { fcp: paint ? paint.startTime : NaN, b };
    });
    fcp.push(m.fcp);
    bytes = m.b;
    await ctx.close();
  }

  // Connect → first decoded remote frame, 20 joins (the same device: consent once).
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, permissions: ['camera', 'microphone'] });
  const joins = [];
  let agentJoined = false;
  for (let i = 0; i < 20; i++) {
    const page = await ctx.newPage();
    await page.goto(link);
    await page.waitForSelector('button.primary.wide');
    if (await page.$('#agree')) await page.tap('label[for=agree]');
    await page.tap('button.primary.wide');
    await page.waitForSelector('#connect:not([disabled])', { timeout: 20000 });
    // Timed in the page: from the tap's click to the first frame decoded (getStats
    // every 10 ms).
    await page.evaluate(() => document.getElementById('connect').addEventListener('click', () => { window.benchT0 = performance.now(); }, { capture: true }));
    await page.tap('#connect');
    if (!agentJoined) {
      await agent.click('#join');
      agentJoined = true;
      await waitFor('the agent in the call', async () => ((await callStats((f) => agent.evaluate(f)))?.framesDecoded || 0) > 0, 20000);
    }
    const ms = await page.evaluate(async () => {
      for (let i = 0; i < 2000; i++) {
        const pc = window.vchatCall && window.vchatCall.session && window.vchatCall.session.pc;
        if (pc) {
          let frames = 0;
          (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded || 0; });
          if (frames > 0) return performance.now() - window.benchT0;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      return NaN;
    });
    joins.push(ms);
    await page.close();
  }
  const results = {
    client_js_bytes: bytes.js, client_css_bytes: bytes.css, client_html_bytes: bytes.html,
    fcp_ms: { p50: pct(fcp, 50), max: Math.max(...fcp), runs: fcp.map(Math.round) },
    connect_to_first_frame_ms: { p50: pct(joins, 50), p99: pct(joins, 99), runs: joins.map(Math.round) },
  };
  console.log(JSON.stringify(results, null, 2));
  writeFileSync(path.join(here, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  // A bar per join.
  const w = 640, h = 240, pad = 40, max = Math.max(...joins) * 1.1, bw = (w - 2 * pad) / joins.length;
  const bars = joins.map((v, i) => `<rect x="${(pad + i * bw + 2).toFixed(1)}" y="${(h - pad - (v / max) * (h - 2 * pad)).toFixed(1)}" width="${(bw - 4).toFixed(1)}" height="${((v / max) * (h - 2 * pad)).toFixed(1)}" fill="#2563eb"/>`).join('');
  const p50y = h - pad - (results.connect_to_first_frame_ms.p50 / max) * (h - 2 * pad);
  writeFileSync(path.join(here, 'connect.svg'), `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/><text x="${pad}" y="20">"Connect" → first decoded remote frame, 20 joins (ms); line: p50 ${Math.round(results.connect_to_first_frame_ms.p50)} ms</text>
${bars}<line x1="${pad}" x2="${w - pad}" y1="${p50y.toFixed(1)}" y2="${p50y.toFixed(1)}" stroke="#b42318" stroke-dasharray="4 3"/>
<line x1="${pad}" x2="${w - pad}" y1="${h - pad}" y2="${h - pad}" stroke="#333"/><text x="${pad}" y="${h - pad + 16}">join 1</text><text x="${w - pad - 40}" y="${h - pad + 16}">join 20</text>
<text x="4" y="${(h - pad).toFixed(0)}">0</text><text x="4" y="${pad + 4}">${Math.round(max)}</text></svg>
`);
} finally {
  await browser.close();
  await server.stop();
}
