// The in-call tools in Chromium, the agent on a desktop and the client on a phone:
// - the agent's pointer lands on the same spot of the client's own preview (within 2 %
//   of the picture) at its four corners and centre, mirrored and not, in portrait and
//   in landscape; clicks ripple;
// - the client's location is asked, refused once by the browser, then granted: the
//   address from a Nominatim stand-in, the Yandex Maps link and the map picture from a
//   static-map stand-in show in both chats, and the CDR has the position;
// - the agent takes a screenshot, draws an arrow and text on it and sends it; the
//   client shows it full size; the stored JPEG's EXIF (read by Debian's exiftool) has
//   the faked position and the capture time;
// - a still asked of the client's camera goes through ImageCapture at the largest size
//   offered (Chromium's fake camera gives stills at the track's size);
// - malformed, oversized, unknown and flooding data-channel messages are dropped and
//   counted by the client, and the pointer still works after them.
// Screenshots of the tools go to docs/screens/ at both sizes.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { adminApi, agentCreatesCall, callStats as statsOf } from './apps.js';
import { shoot, sleep, startServer, waitFor } from './harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SCREENS = path.join(here, '../../docs/screens');
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1440, height: 900 };
const WHERE = { latitude: 59.9343, longitude: 30.3351, accuracy: 15 };

/** Nominatim's `/reverse` and the Yandex Static API `/v1`, checked as documented. */
async function outsideStandIn() {
  const dir = path.join(tmpdir(), `vchat-map-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const png = path.join(dir, 'map.png');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'color=c=0x9fc5e8:s=450x300', '-vf', 'drawbox=x=215:y=135:w=20:h=30:color=red:t=fill', '-frames:v', '1', '-y', png]);
  const picture = readFileSync(png);
  rmSync(dir, { recursive: true, force: true });
  const seen = { reverse: 0, map: 0, problems: /** @type {string[]} */ ([]) };
  const server = createServer((req, res) => {
    const url = new URL(req.url || '/', 'http://x');
    const q = url.searchParams;
    if (url.pathname === '/reverse') {
      seen.reverse += 1;
      if (q.get('format') !== 'jsonv2' || !q.get('lat') || !q.get('lon') || !req.headers['user-agent']) seen.problems.push(`reverse ${req.url}`);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ licence: 'Data © OpenStreetMap contributors, ODbL 1.0.', display_name: 'Дворцовая площадь, 2, Санкт-Петербург, 190000, Россия', address: { road: 'Дворцовая площадь', house_number: '2', city: 'Санкт-Петербург' } }));
    } else if (url.pathname === '/v1') {
      seen.map += 1;
      const [lon, lat] = (q.get('ll') || '').split(',').map(Number);
      const size = (q.get('size') || '').split(',').map(Number);
      if (!(Math.abs(lat - WHERE.latitude) < 1e-4 && Math.abs(lon - WHERE.longitude) < 1e-4)) seen.problems.push(`map ll ${q.get('ll')}`);
      if (!(size[0] <= 650 && size[1] <= 450) || !(q.get('pt') || '').startsWith(q.get('ll') || '-') || q.get('apikey') !== 'maps-key') seen.problems.push(`map ${req.url}`);
      res.setHeader('Content-Type', 'image/png');
      res.end(picture);
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return { base: `http://127.0.0.1:${port}`, seen, close: () => server.close() };
}

/** Screenshots `page` at both sizes, then back to `own`. */
/** The viewport point of picture spot (x, y) of a video (object-fit and mirroring). */
function pointOf(page, selector, x, y) {
  return page.evaluate(({ selector, x, y }) => {
    const v = /** @type {HTMLVideoElement} */ (document.querySelector(selector));
    const r = v.getBoundingClientRect();
    const s = getComputedStyle(v);
    const k = s.objectFit === 'cover' ? Math.max(r.width / v.videoWidth, r.height / v.videoHeight) : Math.min(r.width / v.videoWidth, r.height / v.videoHeight);
    const w = v.videoWidth * k;
    const h = v.videoHeight * k;
    const mirrored = s.transform.startsWith('matrix(-1');
    return { x: r.left + (r.width - w) / 2 + (mirrored ? 1 - x : x) * w, y: r.top + (r.height - h) / 2 + y * h };
  }, { selector, x, y });
}

/** Where the client's page draws the pointer, as a spot of its own picture. */
function pointerSpot(page) {
  return page.evaluate(() => {
    const dot = document.querySelector('vchat-tile.self .pointer-dot');
    if (!dot || dot.classList.contains('hidden')) return null;
    const d = dot.getBoundingClientRect();
    const v = /** @type {HTMLVideoElement} */ (document.querySelector('vchat-tile.self video'));
    const r = v.getBoundingClientRect();
    const s = getComputedStyle(v);
    const k = s.objectFit === 'cover' ? Math.max(r.width / v.videoWidth, r.height / v.videoHeight) : Math.min(r.width / v.videoWidth, r.height / v.videoHeight);
    const w = v.videoWidth * k;
    const h = v.videoHeight * k;
    let x = (d.left + d.width / 2 - (r.left + (r.width - w) / 2)) / w;
    const y = (d.top + d.height / 2 - (r.top + (r.height - h) / 2)) / h;
    if (s.transform.startsWith('matrix(-1')) x = 1 - x;
    return { x, y, mirrored: s.transform.startsWith('matrix(-1') };
  });
}

test('the agent points, photographs, draws and locates; bad messages are dropped', { timeout: 300000 }, async () => {
  mkdirSync(SCREENS, { recursive: true });
  const outside = await outsideStandIn();
  const server = await startServer({
    VCHAT_INTERACTIONS_EMPTY_END_SECS: '60',
    VCHAT_INTERACTIONS_CDR_GRACE_MS: '200',
    VCHAT_GEO_NOMINATIM_URL: outside.base,
    VCHAT_GEO_STATIC_MAP_URL: `${outside.base}/v1?ll={lon},{lat}&z=16&size=450,300&pt={lon},{lat},pm2rdm&lang={lang}&apikey={key}`,
    VCHAT_GEO_STATIC_MAP_KEY: 'maps-key',
  });
  const api = adminApi(server);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu',
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection'] });
  try {
    await api('POST', '/api/users', { login: 'anna', name: 'Anna', role: 'agent', password: 'correct horse battery' });
    const agent = await (await browser.newContext({ viewport: DESKTOP, locale: 'en', permissions: ['camera', 'microphone'] })).newPage();
    const { link, interaction } = await agentCreatesCall(agent, server.base, 'anna', 'correct horse battery', 'Pointed at');
    // No geolocation permission yet: the browser refuses the first request.
    const clientCtx = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true, locale: 'en', permissions: ['camera', 'microphone'], geolocation: WHERE });
    const client = await clientCtx.newPage();
    await client.goto(link);
    await client.waitForSelector('button.primary.wide');
    await client.tap('label[for=agree]');
    await client.tap('button.primary.wide');
    await client.waitForSelector('#connect:not([disabled])', { timeout: 20000 });
    await client.tap('#connect');
    await agent.click('#join');
    await waitFor('video both ways', async () => {
      const [a, c] = [await statsOf((f) => agent.evaluate(f)), await statsOf((f) => client.evaluate(f))];
      return a && c && a.framesDecoded > 10 && c.framesDecoded > 10;
    }, 30000);

    // The pointer, at the corners and the centre.
    await agent.click('button.tool[aria-label="Point at the client\'s video"]');
    const remote = 'vchat-tile[data-participant="client"] video';
    const spots = [[0.02, 0.02], [0.98, 0.02], [0.02, 0.98], [0.98, 0.98], [0.5, 0.5]];
    const worst = { portrait: 0, landscape: 0, unmirrored: 0 };
    const pointAll = async (label) => {
      for (const [x, y] of spots) {
        const p = await pointOf(agent, remote, x, y);
        await agent.mouse.move(p.x - 3, p.y - 3);
        await agent.mouse.move(p.x, p.y, { steps: 3 });
        let got = null;
        await waitFor(`the pointer at ${x},${y} (${label})`, async () => {
          got = await pointerSpot(client);
          return got && Math.abs(got.x - x) < 0.02 && Math.abs(got.y - y) < 0.02;
        }, 5000).catch(() => {});
        assert.ok(got, `no pointer shown at ${x},${y} (${label})`);
        const off = Math.max(Math.abs(got.x - x), Math.abs(got.y - y));
        assert.ok(off < 0.02, `${label}: pointed at ${x},${y}, shown at ${got.x.toFixed(4)},${got.y.toFixed(4)}`);
        worst[label] = Math.max(worst[label], off);
      }
    };
    await pointAll('portrait');
    assert.equal((await pointerSpot(client)).mirrored, true, 'the front camera preview is mirrored');
    await shoot(client, 'tools-pointer', PHONE);
    // Clicks ripple on both pages.
    const centre = await pointOf(agent, remote, 0.5, 0.5);
    await agent.mouse.click(centre.x, centre.y);
    await waitFor('a ripple at the client', () => client.evaluate(() => window.vchatCall.selfPointer.clicks >= 1), 5000);
    assert.ok(await agent.evaluate(() => window.vchatCall.remotePointer.clicks >= 1), 'and at the agent');
    await client.setViewportSize({ width: PHONE.height, height: PHONE.width });
    await sleep(500);
    await pointAll('landscape');
    await client.setViewportSize(PHONE);
    await client.evaluate(() => window.vchatCall.self.local(false));
    await pointAll('unmirrored');
    await client.evaluate(() => window.vchatCall.self.local(true));
    console.log(`pointer: 5 spots × 3 views, worst error ${JSON.stringify(worst)} (of the picture)`);

    // Bad data-channel messages: dropped, counted, and the call goes on.
    await agent.evaluate(() => {
      const s = window.vchatCall.session;
      s.send('{not json');
      s.send(JSON.stringify({ v: 1, type: 'pointer', x: 0.5, y: 0.5, pad: 'x'.repeat(5000) }));
      s.send(JSON.stringify({ v: 1, type: 'teleport' }));
      s.send(JSON.stringify({ v: 1, type: 'pointer', x: 7, y: -1 }));
      for (let i = 0; i < 300; i++) s.send(JSON.stringify({ v: 1, type: 'pointer.click', x: 0.1, y: 0.1 }));
    });
    let dropped = null;
    await waitFor('the bad messages counted', async () => {
      dropped = await client.evaluate(() => window.vchatCall.inbox.dropped);
      return dropped.malformed >= 1 && dropped.oversized >= 1 && dropped.unknown >= 1 && dropped.invalid >= 1 && dropped.rate >= 250;
    }, 10000);
    console.log(`dropped at the client: ${JSON.stringify(dropped)}`);
    await sleep(1100);
    await pointAll('portrait');

    // Location: refused by the browser, then granted.
    await agent.mouse.move(5, 5);
    await agent.click('button.tool[aria-label="Ask for the client\'s location"]');
    await client.waitForSelector('.overlay .ask #geo-share');
    await shoot(client, 'tools-geo-ask', PHONE);
    await client.tap('#geo-share');
    await waitFor('the refusal at the agent', () => agent.evaluate(() => window.vchatTools.lastGeo === 'denied'), 10000);
    // (Granting replaces the set: the camera and microphone stay granted.)
    await clientCtx.grantPermissions(['camera', 'microphone', 'geolocation'], { origin: server.base });
    await agent.click('button.tool[aria-label="Ask for the client\'s location"]');
    await client.waitForSelector('.overlay .ask #geo-share');
    await client.tap('#geo-share');
    for (const [who, page] of [['agent', agent], ['client', client]]) {
      await waitFor(`the address and map at the ${who}`, () => page.evaluate(() => {
        const g = document.querySelector('vchat-chat .geo');
        const img = g && g.querySelector('img.map');
        return !!(g && g.querySelector('.address').textContent.includes('Дворцовая') && img && img.complete && img.naturalWidth === 450);
      }), 15000);
      const href = await page.$eval('vchat-chat .geo a.map-link', (a) => a.href);
      assert.match(href, /^https:\/\/yandex\.ru\/maps\/\?pt=30\.335100,59\.934300&z=17/, href);
    }
    assert.equal(await agent.evaluate(() => window.vchatTools.lastGeo), 'shared');
    await client.tap('.chat-toggle');
    await shoot(client, 'tools-geo-chat', PHONE);
    await client.tap('.chat-toggle');

    // A screenshot, drawn on and sent.
    await agent.click('button.tool[aria-label="Screenshot of the client\'s video"]');
    await agent.waitForSelector('.overlay .annotator canvas');
    const canvas = await agent.$eval('.annotator canvas', (c) => ({ w: c.width, h: c.height }));
    const decoded = await agent.$eval(remote, (v) => ({ w: v.videoWidth, h: v.videoHeight }));
    assert.deepEqual(canvas, decoded, 'the screenshot has the decoded frame\'s size');
    const box = await (await agent.$('.annotator canvas')).boundingBox();
    await agent.click('[data-tool="arrow"]');
    await agent.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.8);
    await agent.mouse.down();
    await agent.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5, { steps: 8 });
    await agent.mouse.up();
    await agent.click('[data-color="yellow"]');
    await agent.click('[data-tool="text"]');
    await agent.mouse.click(box.x + box.width * 0.52, box.y + box.height * 0.4);
    await agent.waitForSelector('.annotator .draw-text:focus');
    await agent.keyboard.type('Press here');
    await agent.keyboard.press('Enter');
    await agent.click('[data-tool="rect"]');
    await agent.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.6);
    await agent.mouse.down();
    await agent.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.8, { steps: 4 });
    await agent.mouse.up();
    await agent.click('[data-action="undo"]');
    await agent.click('[data-action="redo"]');
    const shapes = await agent.evaluate(() => window.vchatAnnotator.shapes().map((s) => s.tool));
    assert.deepEqual(shapes, ['arrow', 'text', 'rect']);
    await shoot(agent, 'tools-draw', DESKTOP);
    await agent.click('#draw-send');
    await agent.waitForSelector('.overlay .annotator', { state: 'detached' });
    await client.tap('.chat-toggle');
    await waitFor('the drawing in the client\'s chat', () => client.evaluate(() => {
      const img = [...document.querySelectorAll('vchat-chat img.preview')].find((i) => i.alt.startsWith('screenshot-'));
      return !!(img && img.complete && img.naturalWidth > 0);
    }), 15000);
    await client.tap('vchat-chat .preview-open');
    await client.waitForSelector('.overlay .viewer img');
    const full = await client.$eval('.overlay .viewer img', (i) => ({ w: i.naturalWidth, h: i.naturalHeight }));
    assert.deepEqual(full, decoded, 'the client sees it full size');
    await shoot(client, 'tools-screenshot-viewer', PHONE);
    await client.keyboard.press('Escape');
    await client.tap('.chat-toggle');

    // The stored JPEGs' EXIF, read by exiftool.
    const events = await api('GET', `/api/interactions/${interaction}/events`);
    const shots = events.filter((e) => e.kind === 'screenshot.taken').map((e) => e.data);
    assert.deepEqual(shots.map((s) => s.source), ['client-video', 'annotated']);
    const drawn = shots[1];
    assert.equal(drawn.of, shots[0].file);
    assert.equal(drawn.sent, true);
    const tags = JSON.parse(execFileSync('exiftool', ['-json', '-n', path.join(server.dataDir, 'files', drawn.file)], { encoding: 'utf8' }))[0];
    assert.ok(Math.abs(tags.GPSLatitude - WHERE.latitude) < 1e-5, JSON.stringify(tags));
    assert.ok(Math.abs(tags.GPSLongitude - WHERE.longitude) < 1e-5);
    assert.equal(tags.GPSHPositioningError, WHERE.accuracy);
    assert.match(String(tags.DateTimeOriginal), /^\d{4}:\d\d:\d\d \d\d:\d\d:\d\d$/);
    assert.equal(tags.ImageWidth, decoded.w);
    console.log(`exiftool: ${tags.ImageWidth}x${tags.ImageHeight}, taken ${tags.DateTimeOriginal} UTC, GPS ${tags.GPSLatitude},${tags.GPSLongitude} ±${tags.GPSHPositioningError} m`);

    // A still from the client's camera through ImageCapture.
    await agent.click('button.tool[aria-label="Photo from the client\'s camera"]');
    await agent.waitForSelector('.overlay .annotator canvas', { timeout: 15000 }).catch(async (e) => {
      console.log('debug', JSON.stringify(await client.evaluate(() => [window.vchatClient.lastStill, window.vchatCall.inbox.dropped, window.vchatCall.inbox.accepted])),
        JSON.stringify(await agent.evaluate(() => [window.vchatCall.inbox.dropped, [...window.vchatTools.asked]])));
      throw e;
    });
    const still = await client.evaluate(() => window.vchatClient.lastStill);
    const track = await client.evaluate(() => window.vchatCall.local.getVideoTracks()[0].getSettings());
    assert.equal(still.method, 'image-capture');
    assert.ok(still.asked && still.asked.width >= track.width, `asked ${JSON.stringify(still.asked)} of a ${track.width}x${track.height} track`);
    assert.deepEqual([still.width, still.height], [track.width, track.height], 'the fake camera gives stills at the track\'s size');
    console.log(`still: ImageCapture asked ${still.asked.width}x${still.asked.height}, got ${still.width}x${still.height} (track ${track.width}x${track.height})`);
    await agent.click('.annotator footer button:not(.primary):not(.link)');

    // The CDR: the position and the screenshots.
    await agent.click('.hang-up');
    let cdr = null;
    await waitFor('the CDR', async () => {
      const r = await fetch(`${server.base}/api/interactions/${interaction}/cdr`, { headers: { Authorization: `Bearer ${server.apiToken}` } });
      if (r.ok) cdr = await r.json();
      return !!cdr;
    }, 20000);
    assert.equal(cdr.geolocation.lat, WHERE.latitude);
    assert.equal(cdr.positions.length, 1);
    assert.equal(cdr.screenshots, 3);
    assert.deepEqual(cdr.screenshot_files.map((s) => s.source), ['client-video', 'annotated', 'client-camera']);
    assert.deepEqual(outside.seen.problems, [], 'the stand-ins saw documented requests');
    assert.equal(outside.seen.map, 1);
  } finally {
    await browser.close();
    await server.stop();
    outside.close();
  }
});
