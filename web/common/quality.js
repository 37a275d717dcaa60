// <vchat-quality>: the connection's quality from `getStats` — bitrate in and out,
// loss, round trip, the received video's size — as a label and a tooltip.

import { t } from './i18n.js';

/**
 * @typedef {object} Quality
 * @property {number} inKbps
 * @property {number} outKbps
 * @property {number} loss Fraction of packets lost in the last interval, 0..1.
 * @property {number} rttMs
 * @property {number} width Received video width (0: none).
 * @property {number} height
 * @property {number} sentHeight Sent video height (0: none).
 * @property {'good' | 'fair' | 'poor' | 'none'} grade
 */

/**
 * Measures a peer connection every second; `onQuality` gets each reading.
 * @param {RTCPeerConnection} pc
 * @param {(q: Quality) => void} onQuality
 * @returns {() => void} stops measuring
 */
export function watchQuality(pc, onQuality) {
  let last = { at: 0, bytesIn: 0, bytesOut: 0, lost: 0, received: 0 };
  const timer = setInterval(async () => {
    if (pc.connectionState === 'closed') return;
    /** @type {RTCStatsReport} */
    let report;
    try {
      report = await pc.getStats();
    } catch (_) {
      return;
    }
    let bytesIn = 0, bytesOut = 0, lost = 0, received = 0, rtt = 0, width = 0, height = 0, sentHeight = 0;
    report.forEach((/** @type {any} */ s) => {
      if (s.type === 'inbound-rtp') {
        bytesIn += s.bytesReceived || 0;
        lost += s.packetsLost || 0;
        received += s.packetsReceived || 0;
        if (s.kind === 'video' && s.frameHeight) {
          width = Math.max(width, s.frameWidth || 0);
          height = Math.max(height, s.frameHeight || 0);
        }
      } else if (s.type === 'outbound-rtp') {
        bytesOut += s.bytesSent || 0;
        if (s.kind === 'video' && s.frameHeight) sentHeight = Math.max(sentHeight, s.frameHeight);
      } else if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime) {
        rtt = s.currentRoundTripTime * 1000;
      }
    });
    const now = performance.now();
    const secs = last.at ? (now - last.at) / 1000 : 1;
    const dLost = Math.max(0, lost - last.lost), dRecv = Math.max(0, received - last.received);
    const loss = dLost + dRecv > 0 ? dLost / (dLost + dRecv) : 0;
    const inKbps = last.at ? ((bytesIn - last.bytesIn) * 8) / 1000 / secs : 0;
    const outKbps = last.at ? ((bytesOut - last.bytesOut) * 8) / 1000 / secs : 0;
    last = { at: now, bytesIn, bytesOut, lost, received };
    /** @type {Quality['grade']} */
    let grade = 'good';
    if (inKbps + outKbps < 1) grade = 'none';
    else if (loss > 0.08 || rtt > 600) grade = 'poor';
    else if (loss > 0.02 || rtt > 250) grade = 'fair';
    onQuality({ inKbps, outKbps, loss, rttMs: rtt, width, height, sentHeight, grade });
  }, 1000);
  return () => clearInterval(timer);
}

export class QualityIndicator extends HTMLElement {
  connectedCallback() {
    this.setAttribute('role', 'status');
    if (!this.textContent) this.show(null);
  }

  /** @param {Quality | null} q */
  show(q) {
    const grade = q ? q.grade : 'none';
    this.dataset.grade = grade;
    this.textContent = `${t('call.quality')}: ${t(`call.quality.${grade}`)}`;
    if (q) {
      const size = q.height ? ` · ${q.width}×${q.height}` : '';
      this.title = `↓ ${Math.round(q.inKbps)} kbit/s · ↑ ${Math.round(q.outKbps)} kbit/s · ${(q.loss * 100).toFixed(1)} % · RTT ${Math.round(q.rttMs)} ms${size}`;
    }
  }
}
if (!customElements.get('vchat-quality')) customElements.define('vchat-quality', QualityIndicator);
