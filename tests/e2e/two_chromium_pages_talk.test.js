// Two headless Chromium pages join one room through `vchat serve`: each receives the
// other's audio and video (decoded frames, real width), chat goes both ways, and a third
// page joining and leaving mid-call does not disturb them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchChromium, waitConnected, inboundStats, assertMediaFlows, chatText, waitFor, sleep } from './harness.js';

test('two Chromium pages see, hear and message each other; a third comes and goes', async () => {
  const server = await startServer();
  const chromium = await launchChromium();
  try {
    const room = await server.createRoom(['Alice', 'Bob', 'Carol']);
    const [alice, bob, carol] = room.participants;
    const a = await chromium.open(alice.join_url);
    const b = await chromium.open(bob.join_url);
    await waitConnected(a);
    await waitConnected(b);

    // Media: sample twice, a few seconds apart; everything must grow.
    await assertMediaFlows([['Alice', a], ['Bob', b]]);

    // Chat over the data-channel relay, both ways.
    await a.fill('#chat-input', 'hello from Alice');
    await a.click('#chat-form button');
    await b.fill('#chat-input', 'hello from Bob');
    await b.click('#chat-form button');
    await waitFor('Bob to get Alice\'s message', async () => (await chatText(b)).includes('Alice: hello from Alice'));
    await waitFor('Alice to get Bob\'s message', async () => (await chatText(a)).includes('Bob: hello from Bob'));

    // A third participant joins, receives both, and leaves; the two keep decoding.
    const before = [(await inboundStats(a)).video.framesDecoded, (await inboundStats(b)).video.framesDecoded];
    const c = await chromium.open(carol.join_url);
    await waitConnected(c, 2);
    const c1 = await inboundStats(c);
    assert.equal(c1.video.streams, 2, 'Carol receives Alice and Bob');
    const during = [(await inboundStats(a)).video.framesDecoded, (await inboundStats(b)).video.framesDecoded];
    await c.click('#leave');
    await waitFor('Alice to drop Carol\'s tile', () => a.evaluate(() => document.querySelectorAll('vchat-tile').length === 2));
    await sleep(3000);
    const after = [(await inboundStats(a)).video.framesDecoded, (await inboundStats(b)).video.framesDecoded];
    // Alice's and Bob's counts cover the stream from each other only when Carol is gone;
    // while she was there they also counted hers, so compare each window's growth of
    // the stream that mattered throughout.
    for (const [i, name] of ['Alice', 'Bob'].entries()) {
      assert.ok(during[i] > before[i], `${name} kept decoding while Carol joined: ${before[i]} -> ${during[i]}`);
      assert.ok(after[i] > during[i], `${name} kept decoding after Carol left: ${during[i]} -> ${after[i]}`);
    }
    const aFinal = await inboundStats(a);
    const ownPeer = Object.values(aFinal.byMid).filter((s) => s.kind === 'video' && s.framesDecoded > 0);
    assert.ok(ownPeer.length >= 1);
    await c.close();

    const metrics = await server.metrics();
    const forwarded = Number((metrics.match(/^vchat_sfu_rtp_forwarded_total (\d+)/m) || [])[1]);
    assert.ok(forwarded > 500, `metrics count forwarded packets: ${forwarded}`);
    await a.close();
    await b.close();
  } finally {
    await chromium.close();
    const code = await server.stop();
    assert.equal(code, 0, `vchat exits cleanly on SIGTERM:\n${server.log().slice(-2000)}`);
  }
});
