// An intercom call end to end, in Russian and English: a simulated door panel
// (`vchat intercom-sim`, the real protocol) rings — in Russian a PCMA panel, passed
// through the room untouched; in English an L16 (16 kHz) one, transcoded to and from
// the room's Opus, and an Opus one, passed through —; the agent's workspace in
// Chromium shows the ring and answers it; the page hears the panel's 1 kHz tone
// (a WebAudio analyser on the received track) and the panel hears the page's
// microphone (a 440 Hz file as Chromium's fake microphone; the simulator measures the
// dominant frequency of what it receives); the door opens from the call view and its
// state comes back to the page; the agent hangs up. Then the CDR holds who answered,
// when, the door and the end, the rtc_* metrics moved by exactly one call, and the
// call's recording (downloaded through the API, checked with ffprobe and sox) has
// the panel's 1 kHz on the left and the agent's 440 Hz on the right.
// Screens (the ring, the call) go to docs/screens/ at phone and desktop size, checked
// by axe-core.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { DESKTOP, sleep, startServer, vchatBinary, waitFor } from './harness.js';
import { SCREENS, adminApi, launchAppsBrowser, shootChecked } from './apps.js';

/** @param {string} text @param {string} name */
function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ').pop()) : NaN;
}

/** sox's rough frequency (Hz) and RMS of one channel of `wav` in a window. */
function soxStat(wav, channel, from, length) {
  const run = spawnSync('sox', [wav, '-n', 'remix', String(channel), 'trim', String(from), String(length), 'stat'], { encoding: 'utf8' });
  const text = `${run.stdout}${run.stderr}`;
  /** @param {RegExp} re */
  const field = (re) => {
    const match = text.match(re);
    assert.ok(match, text);
    return Number(match[1]);
  };
  return { hz: field(/Rough\s+frequency:\s+([0-9.e-]+)/), rms: field(/RMS\s+amplitude:\s+([0-9.e-]+)/) };
}

const COUNTED = ['rtc_started_sip_calls', 'rtc_speak_sip_calls', 'rtc_failed_sip_calls', 'rtc_sip_calls_duration_count', 'rtc_intercom_status_info'];

/** The dominant frequency of what the page receives from the panel, Hz. */
function pageHears(page) {
  return page.evaluate(async () => {
    const pc = /** @type {any} */ (window).vchatCall.session.pc;
    const tracks = pc.getReceivers().map((r) => r.track).filter((t) => t && t.kind === 'audio');
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    // One source per track: a stream source takes only one of its tracks (by id), and
    // an unused receiver's track is silent.
    for (const track of tracks) ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    await new Promise((r) => setTimeout(r, 1500));
    const bins = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(bins);
    let best = 0;
    for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    const hz = (best * ctx.sampleRate) / analyser.fftSize;
    await ctx.close();
    return { hz, db: bins[best] };
  });
}

for (const [lang, codec] of [['ru', 'PCMA'], ['en', 'L16/16000'], ['en', 'opus']]) {
  test(`an agent answers a ringing intercom, talks, opens the door and hangs up (${lang}, ${codec})`, { timeout: 180000 }, async () => {
    mkdirSync(SCREENS, { recursive: true });
    const work = mkdtempSync(path.join(tmpdir(), 'vchat-intercom-e2e-'));
    const tone = path.join(work, 'tone440.wav');
    execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=30', '-ac', '1', tone]);
    const server = await startServer({ VCHAT_RECORDINGS_MERGE_GRACE_MS: '300' });
    const browser = await launchAppsBrowser([`--use-file-for-fake-audio-capture=${tone}`]);
    /** @type {import('node:child_process').ChildProcess | null} */
    let sim = null;
    let simLog = '';
    try {
      const api = adminApi(server);
      const anna = await api('POST', '/api/users', { login: 'anna', name: lang === 'ru' ? 'Анна Смирнова' : 'Anna Smith', role: 'agent', password: 'correct horse battery' });
      const panel = await api('POST', '/api/devices', { device: 'panel-00001', name: lang === 'ru' ? 'Ленина 5, подъезд 2' : '5 Lenin St, entrance 2' });
      writeFileSync(path.join(work, 'secrets'), `panel-00001 ${panel.secret}\n`);

      const ctx = await browser.newContext({ viewport: DESKTOP, locale: lang });
      const page = await ctx.newPage();
      await page.goto(`${server.base}/agent/`);
      await page.fill('#login', 'anna');
      await page.fill('#password', 'correct horse battery');
      await page.click('form.signin button[type=submit]');
      await page.waitForSelector('#new-call');

      const before = await server.metrics();
      const report = path.join(work, 'report.json');
      const readReport = () => (existsSync(report) ? JSON.parse(readFileSync(report, 'utf8')) : {});
      sim = spawn(vchatBinary(), ['intercom-sim', '--url', `${server.base.replace('http', 'ws')}/intercom`, '--devices', '1',
        '--prefix', 'panel-', '--secrets', path.join(work, 'secrets'), '--ring-every', '1', '--rings', '1', '--talk', '120', '--codecs', codec,
        '--listen', '--report', report], { stdio: ['ignore', 'ignore', 'pipe'] });
      sim.stderr.on('data', (c) => { simLog += c.toString(); });

      // The ring reaches the workspace.
      const problems = [];
      await page.waitForSelector('#ringing .ring', { timeout: 20000 });
      const ringText = await page.textContent('#ringing');
      assert.ok(ringText.includes(lang === 'ru' ? 'Ленина 5, подъезд 2' : '5 Lenin St, entrance 2') && ringText.includes(lang === 'ru' ? 'Квартира 1' : 'Flat 1'), ringText);
      // The Opus run looks like the L16 one: its screens are not taken again.
      const shots = codec !== 'opus';
      if (shots) await shootChecked(page, `${lang}-intercom-ringing`, problems);

      // Answer: the call view opens with the door button.
      await page.click('#ringing .answer');
      await page.waitForSelector('#open-door', { timeout: 15000 });
      await waitFor('the panel answered', async () => readReport().answered === 1, 10000);
      await waitFor('audio from the panel', async () => {
        const n = await page.evaluate(async () => {
          const c = /** @type {any} */ (window).vchatCall;
          if (!c || !c.session || !c.session.pc) return 0;
          let packets = 0;
          (await c.session.pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') packets += s.packetsReceived || 0; });
          return packets;
        });
        return n > 100;
      }, 20000);

      // The page hears the panel's 1 kHz tone.
      const heard = await pageHears(page);
      assert.ok(Math.abs(heard.hz - 1000) < 20, `the page heard ${heard.hz.toFixed(0)} Hz at ${heard.db.toFixed(0)} dB`);
      // The panel hears the page's 440 Hz.
      await waitFor('the panel hears 440 Hz', async () => {
        const r = readReport();
        return Math.abs(r.heard_hz - 440) <= 10 && r.heard_share > 0.5;
      }, 20000);
      const panelHeard = readReport();

      // The door opens from the call, and the page says so.
      await page.click('#open-door');
      await waitFor('the door state on the page', async () => (await page.textContent('#door-state')) === (lang === 'ru' ? 'Дверь: открыта' : 'Door: open'), 15000);
      await waitFor('the panel counted the command', async () => readReport().commands === 1, 5000);
      if (shots) await shootChecked(page, `${lang}-intercom-call`, problems);

      // The agent hangs up; the panel is told.
      await sleep(1000);
      await page.click('.hang-up');
      await waitFor('the panel hung up by vchat', async () => readReport().hung_up === 1, 15000);
      const interaction = await page.evaluate(() => /** @type {any} */ (window).vchatAgent.state.selected);
      await waitFor('the interaction ended', async () => (await api('GET', `/api/interactions/${interaction}`)).state === 'ended', 15000);

      // The CDR.
      /** @type {any} */
      let cdr = null;
      await waitFor('the CDR', async () => {
        const page1 = await api('GET', '/api/cdrs');
        cdr = page1.items.find((c) => c.interaction === interaction) || null;
        return cdr !== null;
      }, 20000);
      assert.equal(cdr.kind, 'intercom');
      assert.equal(cdr.agent, anna.id);
      assert.equal(cdr.disposition, 'answered');
      assert.equal(cdr.end_reason, 'ended by agent');
      assert.equal(cdr.intercom.device_id, 'panel-00001');
      assert.equal(cdr.intercom.call_kind, 'sip');
      assert.equal(cdr.intercom.flat, '1');
      assert.equal(cdr.intercom.answered_by, anna.id);
      assert.ok(cdr.intercom.answered_at >= cdr.intercom.rang_at, 'answered after it rang');
      assert.equal(cdr.intercom.doors_opened, 1);
      assert.equal(cdr.intercom.door_opened_by, anna.id);
      assert.ok(cdr.talk_secs > 3, `talked ${cdr.talk_secs} s`);

      // The metrics moved by one call: started, spoken, not failed, one duration.
      const after = await server.metrics();
      const moved = Object.fromEntries(COUNTED.map((m) => [m, metric(after, m) - metric(before, m)]));
      assert.deepEqual(moved, {
        rtc_started_sip_calls: 1, rtc_speak_sip_calls: 1, rtc_failed_sip_calls: 0, rtc_sip_calls_duration_count: 1, rtc_intercom_status_info: 1,
      }, JSON.stringify(moved));

      // The recording: audio only, stereo; the panel left, the agent right.
      /** @type {any} */
      let recording = null;
      await waitFor('the recording to be merged', async () => {
        recording = await api('GET', `/api/interactions/${interaction}/recording`);
        return recording.state === 'ready' || recording.state === 'failed';
      }, 30000);
      assert.equal(recording.state, 'ready', recording.reason);
      const file = await fetch(`${server.base}/api/recordings/${interaction}/file`, { headers: { Authorization: `Bearer ${server.apiToken}` } });
      assert.equal(file.status, 200);
      const webm = path.join(work, 'call.webm');
      writeFileSync(webm, Buffer.from(await file.arrayBuffer()));
      const probe = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,channels:format=duration', '-of', 'default=nw=1', webm], { encoding: 'utf8' });
      assert.match(probe, /codec_name=opus/);
      assert.match(probe, /channels=2/);
      assert.doesNotMatch(probe, /codec_type=video/);
      const duration = Number((probe.match(/duration=([0-9.]+)/) || [])[1]);
      assert.ok(Math.abs(duration - cdr.talk_secs) < 2, `file ${duration} s, talked ${cdr.talk_secs} s`);
      const wav = path.join(work, 'call.wav');
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', webm, '-map', '0:a', wav]);
      const [from, length] = [duration * 0.3, duration * 0.4];
      const left = soxStat(wav, 1, from, length);
      const right = soxStat(wav, 2, from, length);
      assert.ok(Math.abs(left.hz - 1000) < 30 && left.rms > 0.05, `left (the panel): ${JSON.stringify(left)}`);
      assert.ok(Math.abs(right.hz - 440) < 15 && right.rms > 0.003, `right (the agent): ${JSON.stringify(right)}`);

      assert.deepEqual(problems, [], `axe found serious or critical problems:\n${problems.join('\n')}`);
      console.log(`${lang} (${codec}): the page heard ${heard.hz.toFixed(0)} Hz (${heard.db.toFixed(0)} dB); the panel heard ${panelHeard.heard_hz} Hz `
        + `(${(panelHeard.heard_share * 100).toFixed(0)} % of its energy), ${panelHeard.frames_in} frames in, ${panelHeard.frames_out} out; `
        + `talked ${cdr.talk_secs.toFixed(1)} s; metrics moved ${JSON.stringify(moved)}; `
        + `recording ${duration.toFixed(2)} s, left ${left.hz} Hz RMS ${left.rms}, right ${right.hz} Hz RMS ${right.rms}`);
      await ctx.close();
    } catch (err) {
      console.log(simLog.split('\n').slice(-15).join('\n'));
      console.log(server.log().split('\n').filter((l) => /intercom|WARN|ERROR/.test(l)).slice(-30).join('\n'));
      throw err;
    } finally {
      if (sim) sim.kill('SIGTERM');
      await browser.close();
      await server.stop();
    }
  });
}
