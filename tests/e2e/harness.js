// Test rig for the browser suites: a real `vchat serve`, real Chromium and Firefox.
//
// The server binary comes from $VCHAT_BIN, else from the cargo target folder
// ($CARGO_TARGET_DIR or ../../target) of a debug build.

import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';

const here = path.dirname(fileURLToPath(import.meta.url));

export function vchatBinary() {
  if (process.env.VCHAT_BIN) return process.env.VCHAT_BIN;
  const target = process.env.CARGO_TARGET_DIR || path.join(here, '../../target');
  const bin = path.join(target, 'debug', 'vchat');
  if (!existsSync(bin)) throw new Error(`no vchat binary at ${bin}: run cargo build first or set VCHAT_BIN`);
  return bin;
}

/**
 * Starts `vchat serve` on free ports with a fresh data folder.
 * @param {Record<string, string>} [env] Extra VCHAT_* settings.
 * @param {{http?: string}} [options] Where HTTP(S) listens (default: a free loopback port).
 */
export async function startServer(env = {}, { http = '127.0.0.1:0' } = {}) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vchat-e2e-'));
  const child = spawn(vchatBinary(), ['serve', '--http', http, '--data', dataDir], {
    env: {
      ...process.env, NO_COLOR: '1', VCHAT_LOG: 'info',
      VCHAT_MEDIA_PORT: '0', VCHAT_TURN_UDP_PORT: '0', VCHAT_TURN_TCP_PORT: '0', VCHAT_TURN_TLS_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const onData = (chunk) => { log += chunk.toString(); };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vchat did not start:\n${log}`)), 15000);
    const check = () => {
      const match = log.match(/vchat is serving; open (https?:\/\/[^/\s]+)\//);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.on('exit', (code) => reject(new Error(`vchat exited with ${code}:\n${log}`)));
  });
  const apiToken = readFileSync(path.join(dataDir, 'api-token'), 'utf8').trim();
  return {
    base,
    apiToken,
    dataDir,
    child,
    log: () => log,
    /** Creates a room; returns its join URLs by participant name. */
    async createRoom(names) {
      const response = await fetch(`${base}/api/rooms`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${apiToken}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ participants: names.map((name) => ({ name })) }),
      });
      if (response.status !== 201) throw new Error(`room creation: ${response.status} ${await response.text()}`);
      return response.json();
    },
    async metrics() {
      return (await fetch(`${base}/metrics`)).text();
    },
    /** Stops with SIGTERM; resolves with the exit code. */
    stop() {
      return new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.on('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      });
    },
  };
}

/**
 * A network namespace of the test's own, for browsers that never use loopback.
 *
 * Firefox's ICE agent pairs no 127.x candidate, so it cannot reach a server that
 * announces 127.0.0.1. The namespace holds a veth pair — both ends inside it, nothing
 * added to this machine's interfaces — whose first end carries `addr` and the default
 * route (without one Firefox gathers nothing). A scenario run in it with
 * `runInNamespace` starts the server (media on `addr`, HTTP on the namespace's own
 * 127.0.0.1) and the browsers there; node itself must be inside too, because puppeteer
 * drives Firefox over a WebSocket on 127.0.0.1. Needs root, as `ip netns` does.
 * @param {string} tag
 */
export function createNamespace(tag) {
  const name = `vchat-${tag}-${process.pid}`;
  const addr = '10.231.8.1';
  const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  try { ip('netns', 'del', name); } catch (_) { /* not there: fine */ }
  ip('netns', 'add', name);
  const remove = () => { try { ip('netns', 'del', name); } catch (_) { /* gone already */ } };
  try {
    // IPv4 only: an IPv6 link-local address finishing its duplicate detection a second
    // or two after the link comes up is a network change to Chromium, which then
    // aborts the page loads in flight (net::ERR_NETWORK_CHANGED).
    execFileSync('ip', ['netns', 'exec', name, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    ip('-n', name, 'link', 'set', 'lo', 'up');
    ip('-n', name, 'link', 'add', 'vfa', 'type', 'veth', 'peer', 'name', 'vfb');
    ip('-n', name, 'addr', 'add', `${addr}/24`, 'dev', 'vfa');
    ip('-n', name, 'link', 'set', 'vfa', 'up');
    ip('-n', name, 'link', 'set', 'vfb', 'up');
    ip('-n', name, 'route', 'add', 'default', 'dev', 'vfa');
  } catch (err) {
    remove();
    throw err;
  }
  return { name, addr, dev: 'vfa', remove };
}

/**
 * Runs the scenario file `file` with node inside the namespace; resolves with its exit
 * code. Its output goes to this process's. `VCHAT_NETNS_ADDR` tells it the address.
 * The child is stopped by its pid if it outlives `timeoutMs`.
 * @param {{name: string, addr: string}} ns
 * @param {string} file
 * @param {number} [timeoutMs]
 */
export function runInNamespace(ns, file, timeoutMs = 200000) {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, file], {
      env: { ...process.env, VCHAT_NETNS_ADDR: ns.addr, VCHAT_NETNS_DEV: ns.dev },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${file} ran past ${timeoutMs} ms`)); }, timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve(code === null ? `signal ${signal}` : code); });
  });
}

const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
  '--allow-loopback-in-peer-connection',
];

/** @param {string[]} [extraArgs] More command-line switches. */
export async function launchChromium(extraArgs = []) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
  return {
    name: 'chromium',
    /**
     * Opens a page in its own context (its own cookies, its own camera).
     * @param {string} url
     * @param {{ initScript?: string }} [options] Script run in the page before its own.
     */
    async open(url, options = {}) {
      const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
      if (options.initScript) await context.addInitScript(options.initScript);
      const page = await context.newPage();
      page.on('console', (m) => { if (m.type() === 'error') console.log(`[chromium console] ${m.text()}`); });
      await page.goto(url);
      return wrapPlaywright(page, context);
    },
    close: () => browser.close(),
  };
}

export async function launchFirefox() {
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: '/usr/bin/firefox-esr',
    headless: true,
    extraPrefsFirefox: {
      'media.navigator.streams.fake': true,
      'media.navigator.permission.disabled': true,
      'media.autoplay.default': 0,
      'media.autoplay.blocking_policy': 0,
      // Host candidates as addresses, not mDNS names: the SFU pairs with them.
      'media.peerconnection.ice.obfuscate_host_addresses': false,
    },
  });
  return {
    name: 'firefox',
    async open(url) {
      const page = await browser.newPage();
      await page.goto(url);
      return {
        evaluate: (fn, arg) => page.evaluate(fn, arg),
        fill: async (selector, text) => { await page.$eval(selector, (el, t) => { el.value = t; }, text); },
        click: (selector) => page.click(selector),
        close: () => page.close(),
      };
    },
    close: () => browser.close(),
  };
}

function wrapPlaywright(page, context) {
  return {
    evaluate: (fn, arg) => page.evaluate(fn, arg),
    fill: (selector, text) => page.fill(selector, text),
    click: (selector) => page.click(selector),
    close: () => context.close(),
  };
}

/** Waits until `check()` is truthy, polling. */
export async function waitFor(what, check, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Samples each page's inbound media twice, four seconds apart: audio and video bytes
 * must grow, video must decode (more than 30 frames) at a real width. Logs the figures.
 * @param {Array<[string, any]>} pages Names and pages.
 * @param {string} [label] Prefix of every message (e.g. the transport).
 */
export async function assertMediaFlows(pages, label = '') {
  const prefix = label ? `${label}: ` : '';
  const before = await Promise.all(pages.map(([, page]) => inboundStats(page)));
  await sleep(4000);
  const after = await Promise.all(pages.map(([, page]) => inboundStats(page)));
  pages.forEach(([name], i) => {
    const [s0, s1] = [before[i], after[i]];
    assert.ok(s1.audio.bytes > s0.audio.bytes, `${prefix}${name}'s inbound audio grows: ${s0.audio.bytes} -> ${s1.audio.bytes}`);
    assert.ok(s1.video.bytes > s0.video.bytes, `${prefix}${name}'s inbound video grows: ${s0.video.bytes} -> ${s1.video.bytes}`);
    assert.ok(s1.video.framesDecoded > 30, `${prefix}${name} decoded ${s1.video.framesDecoded} frames`);
    assert.ok(s1.video.frameWidth > 0, `${prefix}${name} sees a frame width of ${s1.video.frameWidth}`);
    console.log(`${prefix}${name}: audio ${s1.audio.bytes} B, video ${s1.video.bytes} B, ${s1.video.framesDecoded} frames at width ${s1.video.frameWidth}`);
  });
}

/** Inbound RTP totals of a page, per kind, from getStats(). */
export function inboundStats(page) {
  return page.evaluate(async () => {
    const room = /** @type {any} */ (window).vchatRoom;
    if (!room || !room.session.pc) return null;
    const report = await room.session.pc.getStats();
    const totals = {
      audio: { bytes: 0, streams: 0 },
      video: { bytes: 0, framesDecoded: 0, frameWidth: 0, streams: 0 },
      byMid: {},
      connection: room.session.pc.connectionState,
    };
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      const kind = s.kind || s.mediaType;
      const t = totals[kind];
      if (!t) return;
      t.bytes += s.bytesReceived || 0;
      t.streams += 1;
      if (kind === 'video') {
        t.framesDecoded += s.framesDecoded || 0;
        t.frameWidth = Math.max(t.frameWidth, s.frameWidth || 0);
      }
      totals.byMid[s.mid || s.trackIdentifier || s.id] = { kind, bytes: s.bytesReceived || 0, framesDecoded: s.framesDecoded || 0 };
    });
    return totals;
  });
}

/** Resolves when the page's session is connected and receives `streams` video streams. */
export function waitConnected(page, videoStreams = 1) {
  return waitFor('media to flow', async () => {
    const s = await inboundStats(page);
    return s && s.connection === 'connected' && s.video.streams >= videoStreams && s.video.framesDecoded > 0 && s;
  }, 30000);
}

/** Text of the chat list of a page. */
export function chatText(page) {
  return page.evaluate(() => {
    const list = document.getElementById('messages');
    return list ? list.textContent || '' : '';
  });
}

/** The sizes every screen is shot at. */
export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1440, height: 900 };

/**
 * Screenshots `page` at phone and desktop size into `docs/screens/<name>-<size>.png`,
 * then gives it back its own size `own`. (A playwright page.)
 * @param {any} page
 * @param {string} name
 * @param {{width: number, height: number}} own
 */
export async function shoot(page, name, own) {
  const screens = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../docs/screens');
  mkdirSync(screens, { recursive: true });
  for (const [size, viewport] of [['phone', PHONE], ['desktop', DESKTOP]]) {
    await page.setViewportSize(viewport);
    await sleep(500);
    await page.screenshot({ path: path.join(screens, `${name}-${size}.png`), scale: 'css' });
  }
  await page.setViewportSize(own);
  await sleep(300);
}
