// Pictures of a call: a decoded video frame at its full size, and a still from the
// camera itself — `ImageCapture.takePhoto` at the largest size the camera offers
// (it may be larger than what the link carries), or the preview drawn on a canvas
// where the browser has no `ImageCapture` (Firefox, Safari). Always a JPEG.

import { loadImage } from '../common/overlay.js';

const QUALITY = 0.92;

/**
 * @param {HTMLCanvasElement} canvas
 * @returns {Promise<Blob>}
 */
function jpeg(canvas) {
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('no picture'))), 'image/jpeg', QUALITY));
}

/**
 * The frame a video shows now, at the decoded size.
 * @param {HTMLVideoElement} video
 * @returns {Promise<{blob: Blob, width: number, height: number}>}
 */
export async function frameJpeg(video) {
  const width = video.videoWidth;
  const height = video.videoHeight;
  if (!width || !height) throw new Error('no video yet');
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const g = canvas.getContext('2d');
  if (!g) throw new Error('no canvas');
  g.drawImage(video, 0, 0, width, height);
  return { blob: await jpeg(canvas), width, height };
}

/**
 * A picture (any format the browser decodes) as a JPEG of the same size.
 * @param {Blob} blob
 * @returns {Promise<{blob: Blob, width: number, height: number}>}
 */
async function asJpeg(blob) {
  const img = await loadImage(blob);
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const g = canvas.getContext('2d');
  if (!g) throw new Error('no canvas');
  g.drawImage(img, 0, 0);
  URL.revokeObjectURL(img.src);
  return { blob: await jpeg(canvas), width: canvas.width, height: canvas.height };
}

/**
 * @typedef {object} Still
 * @property {Blob} blob A JPEG.
 * @property {number} width
 * @property {number} height
 * @property {'image-capture' | 'canvas'} method
 * @property {{width: number, height: number} | null} asked The size asked of `takePhoto`.
 */

/**
 * A still from the camera behind `track` (shown in `preview`).
 * @param {MediaStreamTrack} track
 * @param {HTMLVideoElement} preview
 * @returns {Promise<Still>}
 */
export async function stillFromCamera(track, preview) {
  /** @type {any} */
  const IC = /** @type {any} */ (window).ImageCapture;
  if (IC && track.readyState === 'live') {
    try {
      const capture = new IC(track);
      if (typeof capture.getPhotoCapabilities === 'function' && typeof capture.takePhoto === 'function') {
        const caps = await capture.getPhotoCapabilities();
        /** @type {{width: number, height: number} | null} */
        let asked = null;
        /** @type {Blob | null} */
        let photo = null;
        if (caps && caps.imageWidth && caps.imageHeight && caps.imageWidth.max && caps.imageHeight.max) {
          asked = { width: caps.imageWidth.max, height: caps.imageHeight.max };
          try {
            photo = await capture.takePhoto({ imageWidth: asked.width, imageHeight: asked.height });
          } catch (_) {
            // Some cameras refuse sizes they list (a file-backed one): their own size then.
            photo = null;
          }
        }
        if (!photo) photo = await capture.takePhoto();
        if (photo instanceof Blob && photo.size) {
          const j = await asJpeg(photo);
          return { ...j, method: 'image-capture', asked };
        }
      }
    } catch (_) {
      // fall through to the canvas
    }
  }
  const f = await frameJpeg(preview);
  return { ...f, method: 'canvas', asked: null };
}
