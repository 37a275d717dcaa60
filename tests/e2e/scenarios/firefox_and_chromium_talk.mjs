// Run inside the namespace by firefox_and_chromium_talk.test.js: exits 0 when Firefox
// and Chromium see, hear and message each other through vchat.

import assert from 'node:assert/strict';
import { startServer, launchChromium, launchFirefox, waitConnected, assertMediaFlows, chatText, waitFor } from '../harness.js';

const addr = process.env.VCHAT_NETNS_ADDR;
assert.ok(addr, 'VCHAT_NETNS_ADDR names the namespace address');
const server = await startServer({ VCHAT_MEDIA_BIND_IP: addr });
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
console.log('Firefox and Chromium talked through vchat in the namespace');
