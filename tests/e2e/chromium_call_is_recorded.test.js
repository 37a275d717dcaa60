// A recorded call between two headless Chromium pages with fake devices (Chromium's
// fake microphone beeps; its fake camera is VP8-encoded video): the client opens its
// link, the agent joins 2 s later, the agent ends the call; the merged recording is
// downloaded through the API and checked with ffprobe and sox — stereo Opus with sound
// in the client's (left) channel throughout and in the agent's (right) channel only
// after the agent joined, and the client's video decodable from start to end (ffmpeg
// -xerror) across two layer switches: mid-call the client stops sending its top
// simulcast layer and takes it back, and the file keeps each size as sent (e.g.
// 640x480, then 320x240, then 640x480 again). The same file is then
// played by Chromium and Firefox themselves (Web Audio's decodeAudioData, their own
// WebM demuxers and Opus decoders): Chromium sends 20 ms Opus packets, so the file's
// stereo track is the parties' own packets as two Opus streams (RFC 7845 mapping
// family 1), and supervisors play recordings in these browsers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, launchChromium, launchFirefox, waitConnected, inboundStats, waitFor, sleep } from './harness.js';

/**
 * Decodes a media file (base64) in the page with Web Audio and measures the RMS of each
 * channel in the windows given (seconds).
 * @param {{ b64: string, windows: [number, number][] }} arg
 */
async function decodeInPage({ b64, windows }) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const ctx = new OfflineAudioContext(2, 48000, 48000);
  const audio = await ctx.decodeAudioData(bytes.buffer);
  const rms = (channel, [from, length]) => {
    const data = audio.getChannelData(channel);
    const start = Math.floor(from * audio.sampleRate);
    const end = Math.min(data.length, start + Math.floor(length * audio.sampleRate));
    let sum = 0;
    for (let i = start; i < end; i++) sum += data[i] * data[i];
    return Math.sqrt(sum / Math.max(1, end - start));
  };
  return {
    channels: audio.numberOfChannels,
    duration: audio.duration,
    left: windows.map((w) => rms(0, w)),
    right: windows.map((w) => rms(1, w)),
  };
}

/** RMS amplitude of one channel of `wav` in a window (sox `stat` writes to stderr). */
function soxStat(wav, channel, from, length) {
  const run = spawnSync('sox', [wav, '-n', 'remix', String(channel), 'trim', String(from), String(length), 'stat'], { encoding: 'utf8' });
  const text = `${run.stdout}${run.stderr}`;
  const match = text.match(/RMS\s+amplitude:\s+([0-9.e-]+)/);
  assert.ok(match, text);
  return Number(match[1]);
}

test('a recorded Chromium call gives the client left and the agent right, and its video across layer switches', async () => {
  const server = await startServer({ VCHAT_RECORDINGS_MERGE_GRACE_MS: '300' });
  const chromium = await launchChromium();
  const work = mkdtempSync(path.join(tmpdir(), 'vchat-rec-'));
  try {
    const api = async (method, url, body, cookie) => {
      const headers = { 'Content-Type': 'application/json' };
      if (cookie) headers.Cookie = cookie; else headers.Authorization = `Bearer ${server.apiToken}`;
      return fetch(`${server.base}${url}`, { method, headers, body: body ? JSON.stringify(body) : undefined, redirect: 'manual' });
    };
    const made = await api('POST', '/api/users', { login: 'agent', name: 'Agent', role: 'agent', password: 'agent password 1' });
    assert.equal(made.status, 201, await made.text());
    const login = await api('POST', '/api/login', { login: 'agent', password: 'agent password 1' });
    assert.equal(login.status, 200);
    const cookie = (login.headers.get('set-cookie') || '').split(';')[0];
    const created = await api('POST', '/api/interactions', { client: { name: 'Client' } }, cookie);
    assert.equal(created.status, 201);
    const interaction = await created.json();

    // The client opens its short link: the client's page; it consents, and connects.
    const client = await chromium.open(interaction.link_url);
    const ready = (selector) => waitFor(selector, () => client.evaluate((s) => !!document.querySelector(s), selector));
    await ready('#agree');
    await client.click('#agree');
    await client.click('button.primary.wide');
    await ready('#connect:not([disabled])');
    await client.click('#connect');
    await waitFor('the client to connect', async () => (await inboundStats(client))?.connection === 'connected');
    const started = Date.now();
    await sleep(2000);
    const join = await (await api('POST', `/api/interactions/${interaction.id}/join`, null, cookie)).json();
    const agent = await chromium.open(join.join_url);
    await waitConnected(agent);
    // The client's uplink drops its top simulcast layer for a while, as Chromium does
    // when its own estimate falls, and takes it back: the recorder follows the best
    // layer down and up again, so the file holds two switches.
    const topLayer = (active) => client.evaluate(async (on) => {
      const pc = window.vchatCall && window.vchatCall.session && window.vchatCall.session.pc;
      const sender = pc && pc.getSenders().find((s) => s.track && s.track.kind === 'video');
      if (!sender) return 0;
      const params = sender.getParameters();
      if (params.encodings.length < 2) return params.encodings.length;
      params.encodings[params.encodings.length - 1].active = on;
      await sender.setParameters(params);
      return params.encodings.length;
    }, active);
    // Chromium adds its top layer a few seconds into a call, once its own estimate
    // allows: wait for it, and let the recording hold it a moment.
    const topSending = () => client.evaluate(async () => {
      const pc = window.vchatCall && window.vchatCall.session && window.vchatCall.session.pc;
      if (!pc) return false;
      let rates = /** @type {number[]} */ ([]);
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'outbound-rtp' && s.kind === 'video') rates.push(s.frameHeight && s.framesPerSecond ? s.frameHeight : 0);
      });
      return rates.length >= 2 && rates.every((h) => h > 0);
    });
    await waitFor('the client to send all its layers', topSending, 20000);
    await sleep(1500);
    const layers = await topLayer(false);
    assert.ok(layers >= 2, `the client sends simulcast (${layers} layers)`);
    await sleep(3500);
    await topLayer(true);
    // Chromium brings the layer back when its own estimate allows, a few seconds on.
    const resumed = Date.now();
    await waitFor('the client to send its top layer again', topSending, 20000);
    console.log(`the client sent its top layer again ${Date.now() - resumed} ms after it was allowed`);
    await sleep(3000);
    const ended = await api('POST', `/api/interactions/${interaction.id}/end`, null, cookie);
    assert.equal(ended.status, 200, await ended.text());
    const callSecs = (Date.now() - started) / 1000;

    let recording;
    await waitFor('the recording to be merged', async () => {
      recording = await (await api('GET', `/api/interactions/${interaction.id}/recording`, null, cookie)).json();
      return recording.state === 'ready' || recording.state === 'failed';
    }, 30000);
    console.log(`recording: ${JSON.stringify(recording)}`);
    assert.equal(recording.state, 'ready', recording.reason);
    const file = await api('GET', `/api/recordings/${interaction.id}/file`, null, cookie);
    assert.equal(file.status, 200);
    const webm = path.join(work, 'call.webm');
    writeFileSync(webm, Buffer.from(await file.arrayBuffer()));

    const probe = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,channels,nb_read_frames:format=duration', '-of', 'default=nw=1', webm], { encoding: 'utf8' });
    console.log(probe);
    assert.match(probe, /codec_name=opus/);
    assert.match(probe, /channels=2/);
    assert.match(probe, /codec_name=vp8/, 'the client\'s video is in the file');
    const frames = Number((probe.match(/nb_read_frames=(\d+)/) || [])[1]);
    assert.ok(frames > 60, `${frames} video frames decode`);
    // The picture's size follows the layers recorded (kept as sent, not scaled), and
    // the whole video decodes without an error.
    const sizes = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'frame=width,height', '-of', 'csv=p=0', webm], { encoding: 'utf8' })
      .trim().split('\n').filter(Boolean);
    const runs = sizes.reduce((acc, size) => {
      if (!acc.length || acc[acc.length - 1][0] !== size) acc.push([size, 0]);
      acc[acc.length - 1][1] += 1;
      return acc;
    }, /** @type {[string, number][]} */ ([]));
    console.log(`video sizes in the file, in order: ${runs.map(([size, n]) => `${size.replace(',', 'x')} ×${n}`).join(' → ')}`);
    // The top layer, the one below while the top was off, the top again to the end
    // (a lower layer may come first, while Chromium had not added its top one yet).
    const width = (run) => Number(run[0].split(',')[0]);
    assert.ok(runs.length >= 3, 'at least two switches');
    const [top, below, again] = runs.slice(-3);
    assert.equal(top[0], again[0], 'the top layer again at the end');
    assert.ok(width(below) < width(top), `down a layer while the top was off: ${width(top)} → ${width(below)}`);
    assert.ok(below[1] >= 30 && again[1] >= 30, 'a second or more of each');
    // Every video frame has its own time in the file, later than the one before.
    const times = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=pts', '-of', 'csv=p=0', webm], { encoding: 'utf8' })
      .trim().split('\n').map(Number);
    const backwards = times.filter((t, i) => i > 0 && t <= times[i - 1]).length;
    assert.equal(backwards, 0, `${backwards} of ${times.length} video frames not after the one before`);
    // Decoded as it is timed (no frame-rate conversion, which would fold frames that
    // came closer than the guessed rate's interval).
    const decode = spawnSync('ffmpeg', ['-v', 'error', '-xerror', '-i', webm, '-map', '0:v', '-fps_mode', 'passthrough', '-enc_time_base', '-1', '-f', 'null', '-'], { encoding: 'utf8' });
    assert.equal(decode.status, 0, decode.stderr);
    assert.equal(decode.stderr.trim(), '', 'ffmpeg decodes the video from start to end without an error');
    const duration = Number((probe.match(/duration=([0-9.]+)/) || [])[1]);
    assert.ok(Math.abs(duration - callSecs) < 1.5, `file ${duration} s, call ${callSecs} s`);

    const wav = path.join(work, 'call.wav');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', webm, '-map', '0:a', wav]);
    // Chromium's fake microphone beeps once a second: a 2 s window always holds one.
    const leftEarly = soxStat(wav, 1, 0.2, 1.6);
    const rightEarly = soxStat(wav, 2, 0.2, 1.6);
    const leftLate = soxStat(wav, 1, duration - 2.5, 2);
    const rightLate = soxStat(wav, 2, duration - 2.5, 2);
    console.log(`RMS: left ${leftEarly} then ${leftLate}; right ${rightEarly} then ${rightLate}`);
    assert.ok(leftEarly > 0.005 && leftLate > 0.005, 'the client is heard on the left throughout');
    assert.ok(rightEarly < 0.0005, 'the agent\'s channel is silent before the agent joined');
    assert.ok(rightLate > 0.005, 'the agent is heard on the right after joining');

    // The browsers supervisors use play the file the same way.
    const windows = [[0.2, 1.6], [duration - 2.5, 2]];
    const b64 = readFileSync(webm).toString('base64');
    const firefox = await launchFirefox();
    try {
      for (const [name, browser] of [['Chromium', chromium], ['Firefox', firefox]]) {
        // A page that does nothing of its own (the landing page moves on to /agent/).
        const page = await browser.open(`${server.base}/healthz`);
        const got = await page.evaluate(decodeInPage, { b64, windows });
        console.log(`${name} plays it: ${JSON.stringify(got)}`);
        assert.equal(got.channels, 2, `${name}: stereo`);
        assert.ok(Math.abs(got.duration - duration) < 0.1, `${name}: ${got.duration} s, ffprobe ${duration} s`);
        assert.ok(got.left[0] > 0.005 && got.left[1] > 0.005, `${name}: the client on the left`);
        assert.ok(got.right[0] < 0.0005, `${name}: nothing on the right before the agent joined`);
        assert.ok(got.right[1] > 0.005, `${name}: the agent on the right`);
        // Within 20% of what ffmpeg decoded (sox measures the same windows).
        for (const [a, b] of [[got.left[0], leftEarly], [got.left[1], leftLate], [got.right[1], rightLate]]) {
          assert.ok(Math.abs(a - b) <= 0.2 * b, `${name}: RMS ${a} against ffmpeg's ${b}`);
        }
        await page.close();
      }
    } finally {
      await firefox.close();
    }
    await client.close();
    await agent.close();
  } finally {
    await chromium.close();
    assert.equal(await server.stop(), 0);
  }
});
