// The device check before a call, and <vchat-device-check> that shows it: camera and
// microphone permission, cameras found (front/back), microphone level, whether sound
// plays (iOS unlocks audio only in a tap). The stream it opens is the call's: iOS
// Safari keeps one camera open at a time.

import { el } from './dom.js';
import { t } from './i18n.js';

/**
 * @typedef {'granted' | 'denied' | 'unavailable'} Permission
 * @typedef {object} DeviceCheck
 * @property {Permission} camera
 * @property {Permission} microphone
 * @property {number} cameras
 * @property {boolean} front_camera
 * @property {boolean} back_camera
 * @property {number} mic_level
 * @property {boolean} audio_output
 * @property {'direct' | 'relay' | 'failed' | null} network
 */

/**
 * Video constraints for a camera facing `facing`, at most `maxHeight` lines.
 * @param {'front' | 'back'} facing
 * @param {number} maxHeight
 * @returns {MediaTrackConstraints}
 */
export function cameraConstraints(facing, maxHeight) {
  const height = Math.min(maxHeight, 720);
  return { facingMode: { ideal: facing === 'back' ? 'environment' : 'user' }, height: { ideal: height, max: maxHeight } };
}

/** @param {unknown} err @returns {Permission} */
function refusal(err) {
  const name = err && typeof err === 'object' && 'name' in err ? String(err.name) : '';
  return name === 'NotFoundError' || name === 'OverconstrainedError' ? 'unavailable' : 'denied';
}

/**
 * Opens the microphone (and the camera when `video`), and measures.
 * Call it from a tap: the AudioContext it makes then may play sound (iOS).
 * @param {{video: boolean, facing: 'front' | 'back', maxHeight: number, onLevel?: (level: number) => void, listenMs?: number}} o
 * @returns {Promise<{check: DeviceCheck, stream: MediaStream}>}
 */
export async function checkDevices(o) {
  const AudioCtx = window.AudioContext || /** @type {any} */ (window).webkitAudioContext;
  /** @type {AudioContext | null} */
  const audio = AudioCtx ? new AudioCtx() : null;
  // resume() settles only once the browser lets sound play (never, without a tap, in
  // some): the check does not wait for it longer than half a second.
  if (audio && audio.state === 'suspended') await Promise.race([audio.resume().catch(() => {}), new Promise((r) => setTimeout(r, 500))]);
  /** @type {DeviceCheck} */
  const check = { camera: o.video ? 'granted' : 'unavailable', microphone: 'granted', cameras: 0, front_camera: false, back_camera: false, mic_level: 0, audio_output: false, network: null };
  /** @type {MediaStream} */
  let stream;
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia) {
    check.camera = 'unavailable';
    check.microphone = 'unavailable';
    stream = new MediaStream();
  } else {
    try {
      stream = await md.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true }, video: o.video ? cameraConstraints(o.facing, o.maxHeight) : false });
    } catch (err) {
      // One of the two may still work alone.
      stream = new MediaStream();
      try {
        const a = await md.getUserMedia({ audio: true });
        a.getTracks().forEach((tr) => stream.addTrack(tr));
      } catch (e) {
        check.microphone = refusal(e);
      }
      if (o.video) {
        try {
          const v = await md.getUserMedia({ video: cameraConstraints(o.facing, o.maxHeight) });
          v.getTracks().forEach((tr) => stream.addTrack(tr));
        } catch (e) {
          check.camera = refusal(e);
        }
      }
      if (check.microphone === 'granted' && check.camera === 'granted') check.camera = refusal(err);
    }
    try {
      const devices = await md.enumerateDevices();
      const cams = devices.filter((d) => d.kind === 'videoinput');
      check.cameras = Math.min(16, cams.length);
      for (const c of cams) {
        if (/back|rear|environment|задн|основн/i.test(c.label)) check.back_camera = true;
        else if (/front|user|selfie|face|фронт/i.test(c.label)) check.front_camera = true;
      }
      const track = stream.getVideoTracks()[0];
      const facing = track && track.getSettings ? track.getSettings().facingMode : undefined;
      if (facing === 'environment') check.back_camera = true;
      if (facing === 'user') check.front_camera = true;
      // Labels that say nothing (desktop webcams, test devices): one camera is the
      // front one, a second the back one.
      if (!check.front_camera && !check.back_camera && check.cameras > 0) {
        check.front_camera = true;
        check.back_camera = check.cameras > 1;
      }
    } catch (_) {
      // enumerateDevices is missing on very old browsers: the counts stay 0
    }
  }
  if (!stream.getAudioTracks().length && check.microphone === 'granted') check.microphone = 'unavailable';
  if (o.video && !stream.getVideoTracks().length && check.camera === 'granted') check.camera = 'unavailable';
  if (audio) {
    check.audio_output = audio.state === 'running';
    const mic = stream.getAudioTracks()[0];
    if (mic) check.mic_level = await listen(audio, stream, o.listenMs || 1500, o.onLevel);
    audio.close().catch(() => {});
  }
  return { check, stream };
}

/**
 * The loudest level (0..1) heard on `stream` within `ms`.
 * @param {AudioContext} audio
 * @param {MediaStream} stream
 * @param {number} ms
 * @param {(level: number) => void} [onLevel]
 * @returns {Promise<number>}
 */
function listen(audio, stream, ms, onLevel) {
  const source = audio.createMediaStreamSource(stream);
  const analyser = audio.createAnalyser();
  analyser.fftSize = 1024;
  source.connect(analyser);
  const data = new Float32Array(analyser.fftSize);
  let loudest = 0;
  return new Promise((resolve) => {
    const started = performance.now();
    const tick = () => {
      analyser.getFloatTimeDomainData(data);
      let sum = 0;
      for (let i = 0; i < data.length; i++) sum += data[i] * data[i];
      const level = Math.min(1, Math.sqrt(sum / data.length) * 4);
      loudest = Math.max(loudest, level);
      if (onLevel) onLevel(level);
      if (performance.now() - started < ms) setTimeout(tick, 50);
      else {
        source.disconnect();
        resolve(Math.round(loudest * 1000) / 1000);
      }
    };
    tick();
  });
}

export class DeviceCheckView extends HTMLElement {
  constructor() {
    super();
    this.meter = el('meter', { min: 0, max: 1, value: 0, 'aria-label': t('client.check.microphone') });
    this.rows = el('ul', { class: 'checks' });
  }

  connectedCallback() {
    if (!this.rows.isConnected) this.append(this.rows, el('p', { class: 'muted small' }, t('client.check.level')), this.meter);
  }

  /** @param {number} level */
  level(level) {
    this.meter.value = level;
  }

  /** @param {DeviceCheck} c */
  show(c) {
    // The loudest level heard, once the listening is over.
    this.meter.value = c.mic_level;
    const row = (/** @type {string} */ label, /** @type {string} */ value, /** @type {boolean} */ ok) =>
      el('li', { class: ok ? 'ok' : 'bad' }, el('span', { 'aria-hidden': 'true' }, ok ? '✓ ' : '✕ '), `${label}: `, el('b', {}, value));
    this.rows.replaceChildren(
      row(t('client.check.camera'), t(`client.check.${c.camera}`), c.camera === 'granted'),
      row(t('client.check.microphone'), t(`client.check.${c.microphone}`), c.microphone === 'granted'),
      el('li', { class: 'muted' }, t('client.check.cameras', { n: c.cameras })),
      row(t('client.check.sound'), c.audio_output ? t('client.check.sound.on') : t('client.check.sound.tap'), c.audio_output),
    );
  }
}
if (!customElements.get('vchat-device-check')) customElements.define('vchat-device-check', DeviceCheckView);
