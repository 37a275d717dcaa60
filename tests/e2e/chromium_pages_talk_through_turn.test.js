// Two Chromium pages that may only use relayed candidates (iceTransportPolicy
// 'relay', one TURN URL at a time) talk through vchat's built-in TURN: over UDP, then
// TCP, then TLS. The relay hands their packets to the SFU in-process; the call's audio
// and video flow as in the direct test.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchChromium, waitConnected, assertMediaFlows, waitFor, sleep } from './harness.js';

/**
 * Makes every RTCPeerConnection of the page relay-only, through the server's TURN URL
 * of one transport.
 * @param {'udp' | 'tcp' | 'tls'} transport
 */
function relayOnly(transport) {
  return `(() => {
    const want = ${JSON.stringify(transport)};
    const pick = (url) => want === 'tls' ? url.startsWith('turns:') : url.startsWith('turn:') && url.endsWith('transport=' + want);
    const Native = window.RTCPeerConnection;
    window.RTCPeerConnection = class extends Native {
      constructor(config = {}, ...rest) {
        const iceServers = (config.iceServers || [])
          .map((s) => ({ ...s, urls: [].concat(s.urls).filter(pick) }))
          .filter((s) => s.urls.length > 0);
        window.__turnUrls = iceServers.flatMap((s) => s.urls);
        super({ ...config, iceServers, iceTransportPolicy: 'relay' }, ...rest);
      }
    };
  })();`;
}

/** The selected candidate pair's local side (the transport's selected pair; a nominated, succeeded one else). */
function selectedLocal(page) {
  return page.evaluate(async () => {
    const pc = /** @type {any} */ (window).vchatRoom.session.pc;
    const stats = [...(await pc.getStats()).values()];
    const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
    const pair = (transport && stats.find((s) => s.id === transport.selectedCandidatePairId))
      || stats.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
    const local = pair && stats.find((s) => s.id === pair.localCandidateId);
    return local ? { type: local.candidateType, relayProtocol: local.relayProtocol, urls: /** @type {any} */ (window).__turnUrls } : null;
  });
}

function metric(text, name, labels) {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

test('Chromium pages forced to relay talk through TURN over UDP, TCP and TLS', async () => {
  const server = await startServer();
  // The server's certificate is the self-signed one it makes on first start.
  const chromium = await launchChromium(['--ignore-certificate-errors']);
  try {
    for (const transport of /** @type {const} */ ((process.env.TURN_TRANSPORTS || 'udp,tcp,tls').split(','))) {
      const before = await server.metrics();
      const room = await server.createRoom(['Alice', 'Bob']);
      const [alice, bob] = room.participants;
      const a = await chromium.open(alice.join_url, { initScript: relayOnly(transport) });
      const b = await chromium.open(bob.join_url, { initScript: relayOnly(transport) });
      await waitConnected(a);
      await waitConnected(b);
      for (const [name, page] of [['Alice', a], ['Bob', b]]) {
        // Stats can lag the connection state by a moment (seen once in CI over TCP).
        const local = await waitFor(`${name}'s selected candidate pair`, () => selectedLocal(page), 10000);
        assert.ok(local, `${name} has a selected pair`);
        assert.equal(local.type, 'relay', `${name} sends through the relay`);
        assert.equal(local.relayProtocol, transport, `${name} reaches the relay over ${transport} (${local.urls})`);
      }
      await assertMediaFlows([['Alice', a], ['Bob', b]], transport);
      await a.close();
      await b.close();
      await sleep(1200); // the relay publishes its counters once a second
      const after = await server.metrics();
      const labels = `{transport="${transport}",direction="to_peer"}`;
      const relayed = metric(after, 'vchat_turn_relayed_packets_total', labels) - metric(before, 'vchat_turn_relayed_packets_total', labels);
      const internal = metric(after, 'vchat_turn_internal_packets_total', '') - metric(before, 'vchat_turn_internal_packets_total', '');
      console.log(`${transport}: ${relayed} packets relayed from clients, ${internal} handed to or from the SFU in-process`);
      assert.ok(relayed > 300, `${transport}: packets went through the relay (${relayed})`);
      assert.ok(internal >= relayed, `${transport}: the SFU was reached in-process (${internal})`);
    }
    const metrics = await server.metrics();
    assert.equal(metric(metrics, 'vchat_turn_auth_failures_total', ''), 0, 'no credential failures');
  } finally {
    await chromium.close();
    const code = await server.stop();
    assert.equal(code, 0, `vchat exits cleanly on SIGTERM:\n${server.log().slice(-2000)}`);
  }
});
