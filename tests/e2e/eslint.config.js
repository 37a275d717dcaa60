// A test-only check that `web/` uses no browser API newer than the browsers vchat
// supports (Chromium 92+, Safari 14+ on iOS and macOS, Samsung Internet 15.1+,
// Firefox ESR), unless it checks for the API first. `npm run compat` (from the repository root, where the base path is).

import compat from 'eslint-plugin-compat';

export default [
  {
    files: ['web/**/*.js'],
    plugins: { compat },
    languageOptions: { ecmaVersion: 2020, sourceType: 'module' },
    settings: {
      browsers: ['chrome >= 92', 'edge >= 92', 'safari >= 14', 'ios_saf >= 14', 'samsung >= 15.1', 'firefox >= 115'],
      // What the pages check for before they use it.
      // AudioContext: Safari 14 has webkitAudioContext, which devices.js falls back on.
      // ImageCapture: capture.js uses it only where the browser has it (else a canvas).
      polyfills: ['AudioContext', 'ImageCapture', 'MediaStreamTrack.getSettings', 'navigator.mediaDevices.getDisplayMedia', 'RTCPeerConnection.restartIce'],
    },
    rules: { 'compat/compat': 'error' },
  },
];
