// The whole call with Firefox (desktop) as the client and Chromium as the agent: the
// client's page works in Firefox from consent to survey. Firefox pairs no loopback
// candidate, so the scenario runs in a network namespace this test makes (see
// createNamespace in harness.js).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNamespace, runInNamespace } from './harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));

test('a Firefox client holds a whole call with a Chromium agent', async () => {
  const ns = createNamespace('ffc');
  try {
    const code = await runInNamespace(ns, path.join(here, 'scenarios', 'firefox_client_holds_a_call.mjs'));
    assert.equal(code, 0, 'the scenario in the namespace passed');
  } finally {
    ns.remove();
  }
});
