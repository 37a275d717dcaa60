// The pages' icons: a few strokes on a 24×24 grid, drawn as inline SVG (no icon font:
// emoji render as boxes where the device lacks a colour font).

const SVG = 'http://www.w3.org/2000/svg';

/** @type {Record<string, string[]>} path data of each icon */
const PATHS = {
  mic: ['M9 6a3 3 0 0 1 6 0v5a3 3 0 0 1-6 0z', 'M5 11a7 7 0 0 0 14 0', 'M12 18v3'],
  camera: ['M3 9a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v6a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z', 'M16 10.5l5-3v9l-5-3z'],
  switch: ['M4 12a8 8 0 0 1 14-5.3', 'M18 3v4h-4', 'M20 12a8 8 0 0 1-14 5.3', 'M6 21v-4h4'],
  screen: ['M3 6a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z', 'M8 20h8', 'M12 16v4'],
  chat: ['M4 6a2 2 0 0 1 2-2h12a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H9l-5 4z'],
  clip: ['M16 8l-7 7a2.5 2.5 0 0 1-3.5-3.5l8-8a4 4 0 0 1 5.7 5.7l-8.5 8.5'],
  plus: ['M12 5v14', 'M5 12h14'],
  send: ['M4 12l16-8-6 16-2.5-6.5z', 'M11.5 13.5L20 4'],
  download: ['M12 4v11', 'M7 10l5 5 5-5', 'M5 20h14'],
  pointer: ['M5 3l14 7-6 2-2 6z', 'M13 12l6 6'],
  shot: ['M4 8a2 2 0 0 1 2-2h2l1.5-2h5L16 6h2a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2z', 'M12 9.5a3.5 3.5 0 1 0 0 7 3.5 3.5 0 1 0 0-7z'],
  photo: ['M4 5h16v14H4z', 'M4 16l5-5 4 4 2-2 5 5', 'M15.5 8.5h.01'],
  pin: ['M12 21s-6-5.5-6-11a6 6 0 0 1 12 0c0 5.5-6 11-6 11z', 'M12 8a2 2 0 1 0 0 4 2 2 0 1 0 0-4z'],
  pen: ['M4 20l4-1 11-11-3-3L5 16z', 'M14 6l3 3'],
  arrow: ['M5 19L19 5', 'M10 5h9v9'],
  rect: ['M4 6h16v12H4z'],
  text: ['M5 6V4h14v2', 'M12 4v16', 'M9 20h6'],
  undo: ['M9 14L4 9l5-5', 'M4 9h10a6 6 0 0 1 0 12h-3'],
  redo: ['M15 14l5-5-5-5', 'M20 9H10a6 6 0 0 0 0 12h3'],
  trash: ['M4 7h16', 'M9 7V4h6v3', 'M6 7l1 13h10l1-13'],
  close: ['M6 6l12 12', 'M18 6L6 18'],
};

/**
 * The icon `name`, hidden from assistive technology (its button has the label).
 * @param {keyof typeof PATHS | string} name
 * @returns {SVGSVGElement}
 */
export function icon(name) {
  const svg = /** @type {SVGSVGElement} */ (document.createElementNS(SVG, 'svg'));
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '22');
  svg.setAttribute('height', '22');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', 'icon-svg');
  for (const d of PATHS[name] || []) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}
