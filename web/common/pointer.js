// The agent's pointer over a video: positions are fractions (0…1) of the picture
// itself — the decoded frame, not the element — so letterboxing (`object-fit:
// contain`), cropping (`cover`) and mirroring change nothing, whatever the screen, the
// resolution or the phone's orientation. An overlay draws the pointer, its trail (the
// last half second) and a ripple at each click.

/** How long the trail stays, and a ripple grows. */
const TRAIL_MS = 500;
const RIPPLE_MS = 700;
/** The pointer hides when nothing moved for this long. */
const IDLE_MS = 4000;

/**
 * @typedef {{left: number, top: number, width: number, height: number}} Box
 */

/**
 * Where the picture is drawn, in viewport pixels (it may reach past the element with
 * `cover`).
 * @param {HTMLVideoElement} video
 * @returns {Box | null} null before the first frame.
 */
export function pictureBox(video) {
  const r = video.getBoundingClientRect();
  const vw = video.videoWidth;
  const vh = video.videoHeight;
  if (!vw || !vh || !r.width || !r.height) return null;
  const fit = getComputedStyle(video).objectFit;
  if (fit === 'fill') return { left: r.left, top: r.top, width: r.width, height: r.height };
  const scale = fit === 'cover' ? Math.max(r.width / vw, r.height / vh) : Math.min(r.width / vw, r.height / vh);
  const width = vw * scale;
  const height = vh * scale;
  return { left: r.left + (r.width - width) / 2, top: r.top + (r.height - height) / 2, width, height };
}

/** @param {HTMLVideoElement} video */
function mirrored(video) {
  const m = getComputedStyle(video).transform;
  // scaleX(-1) is matrix(-1, 0, 0, 1, 0, 0).
  return m.startsWith('matrix(-1');
}

/**
 * A viewport point as a spot of the picture, or null outside it.
 * @param {HTMLVideoElement} video
 * @param {number} clientX
 * @param {number} clientY
 * @returns {{x: number, y: number} | null}
 */
export function toPicture(video, clientX, clientY) {
  const b = pictureBox(video);
  if (!b) return null;
  let x = (clientX - b.left) / b.width;
  const y = (clientY - b.top) / b.height;
  if (x < 0 || x > 1 || y < 0 || y > 1) return null;
  if (mirrored(video)) x = 1 - x;
  return { x, y };
}

/**
 * A spot of the picture as a viewport point.
 * @param {HTMLVideoElement} video
 * @param {number} x
 * @param {number} y
 * @returns {{clientX: number, clientY: number} | null}
 */
export function toScreen(video, x, y) {
  const b = pictureBox(video);
  if (!b) return null;
  const sx = mirrored(video) ? 1 - x : x;
  return { clientX: b.left + sx * b.width, clientY: b.top + y * b.height };
}

/** The pointer, its trail and ripples over one tile's video. */
export class PointerOverlay {
  /**
   * @param {HTMLElement} tile The element holding the video (positioned).
   * @param {HTMLVideoElement} video
   */
  constructor(tile, video) {
    this.tile = tile;
    this.video = video;
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'pointer-layer';
    this.canvas.setAttribute('aria-hidden', 'true');
    this.dot = document.createElement('div');
    this.dot.className = 'pointer-dot hidden';
    this.dot.setAttribute('aria-hidden', 'true');
    tile.append(this.canvas, this.dot);
    /** @type {{x: number, y: number, t: number}[]} */
    this.trail = [];
    /** @type {{x: number, y: number, t: number}[]} */
    this.ripples = [];
    /** The spot shown, in picture fractions. @type {{x: number, y: number} | null} */
    this.at = null;
    this.lastMove = 0;
    this.clicks = 0;
    this.frame = 0;
  }

  /** @param {number} x @param {number} y */
  move(x, y) {
    const t = performance.now();
    this.at = { x, y };
    this.lastMove = t;
    this.trail.push({ x, y, t });
    this.run();
  }

  /** @param {number} x @param {number} y */
  click(x, y) {
    this.move(x, y);
    this.clicks += 1;
    this.ripples.push({ x, y, t: performance.now() });
    this.run();
  }

  hide() {
    this.at = null;
    this.trail = [];
    this.dot.classList.add('hidden');
    this.draw();
  }

  run() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.tick());
  }

  tick() {
    this.frame = 0;
    const now = performance.now();
    if (this.at && now - this.lastMove > IDLE_MS) this.hide();
    this.trail = this.trail.filter((p) => now - p.t < TRAIL_MS);
    this.ripples = this.ripples.filter((p) => now - p.t < RIPPLE_MS);
    this.draw();
    if (this.at || this.trail.length || this.ripples.length) this.run();
  }

  draw() {
    const rect = this.tile.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(rect.width * dpr);
    const h = Math.round(rect.height * dpr);
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    const g = this.canvas.getContext('2d');
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, rect.width, rect.height);
    const now = performance.now();
    /** @param {{x: number, y: number}} p */
    const place = (p) => {
      const s = toScreen(this.video, p.x, p.y);
      return s ? { x: s.clientX - rect.left, y: s.clientY - rect.top } : null;
    };
    g.lineCap = 'round';
    for (let i = 1; i < this.trail.length; i++) {
      const a = place(this.trail[i - 1]);
      const b = place(this.trail[i]);
      if (!a || !b) continue;
      const life = 1 - (now - this.trail[i].t) / TRAIL_MS;
      g.strokeStyle = `rgba(255, 59, 48, ${0.7 * life})`;
      g.lineWidth = 2 + 4 * life;
      g.beginPath();
      g.moveTo(a.x, a.y);
      g.lineTo(b.x, b.y);
      g.stroke();
    }
    for (const r of this.ripples) {
      const p = place(r);
      if (!p) continue;
      const age = (now - r.t) / RIPPLE_MS;
      g.strokeStyle = `rgba(255, 255, 255, ${1 - age})`;
      g.lineWidth = 3;
      g.beginPath();
      g.arc(p.x, p.y, 8 + 32 * age, 0, Math.PI * 2);
      g.stroke();
      g.strokeStyle = `rgba(255, 59, 48, ${1 - age})`;
      g.beginPath();
      g.arc(p.x, p.y, 6 + 26 * age, 0, Math.PI * 2);
      g.stroke();
    }
    const here = this.at && place(this.at);
    if (here) {
      this.dot.style.transform = `translate(${here.x}px, ${here.y}px)`;
      this.dot.classList.remove('hidden');
    } else {
      this.dot.classList.add('hidden');
    }
  }
}
