// The media path is cut (the link that carries the server's media address down for
// 2 s; the address itself gone for 12 s) and media comes back within 3 s, with nobody
// clicking; on the long cut both pages say "reconnecting" and restart ICE. Runs in a network namespace
// of its own (createNamespace in harness.js): nothing on this machine's interfaces.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNamespace, runInNamespace } from './harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));

test('a call reconnects by itself after its media path is cut', async () => {
  const ns = createNamespace('rc');
  try {
    const code = await runInNamespace(ns, path.join(here, 'scenarios', 'client_reconnects_by_itself.mjs'));
    assert.equal(code, 0, 'the scenario in the namespace passed');
  } finally {
    ns.remove();
  }
});
