// A Firefox page and a Chromium page in one room: each decodes the other's video,
// hears the other's audio, and chat crosses in both directions.
//
// Firefox pairs no loopback candidate, so the whole scenario (server, both browsers,
// the node that drives them) runs in a network namespace this test makes, where the
// media address is a veth address (see createNamespace in harness.js).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNamespace, runInNamespace } from './harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));

test('Firefox and Chromium see, hear and message each other', async () => {
  const ns = createNamespace('ff');
  try {
    const code = await runInNamespace(ns, path.join(here, 'scenarios', 'firefox_and_chromium_talk.mjs'));
    assert.equal(code, 0, 'the scenario in the namespace passed');
  } finally {
    ns.remove();
  }
});
