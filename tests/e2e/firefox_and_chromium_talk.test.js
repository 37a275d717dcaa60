// A Firefox page and a Chromium page in one room: each decodes the other's video,
// hears the other's audio, and chat crosses in both directions.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, loopbackAlias, launchChromium, launchFirefox, waitConnected, assertMediaFlows, chatText, waitFor } from './harness.js';

test('Firefox and Chromium see, hear and message each other', async () => {
  // Firefox reaches media on an extra loopback address only (see loopbackAlias).
  const server = await startServer({ VCHAT_MEDIA_BIND_IP: loopbackAlias() });
  const chromium = await launchChromium();
  const firefox = await launchFirefox();
  try {
    const room = await server.createRoom(['Chromium user', 'Firefox user']);
    const [onChromium, onFirefox] = room.participants;
    const c = await chromium.open(onChromium.join_url);
    const f = await firefox.open(onFirefox.join_url);
    await waitConnected(c);
    await waitConnected(f);

    await assertMediaFlows([['Chromium', c], ['Firefox', f]]);

    await c.fill('#chat-input', 'hi from Chromium');
    await c.click('#chat-form button');
    await f.fill('#chat-input', 'hi from Firefox');
    await f.click('#chat-form button');
    await waitFor('Firefox to get the message', async () => (await chatText(f)).includes('hi from Chromium'));
    await waitFor('Chromium to get the message', async () => (await chatText(c)).includes('hi from Firefox'));
    await c.close();
    await f.close();
  } finally {
    await chromium.close();
    await firefox.close();
    assert.equal(await server.stop(), 0, 'vchat exits cleanly');
  }
});
