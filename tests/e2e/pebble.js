// Debian's pebble (the ACME test CA) for browser tests, with pebble-challtestsrv as its
// only DNS server on 127.0.0.1 (every name resolves to 127.0.0.1): nothing leaves the
// machine. Stops only the processes it started, by pid.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = /** @type {any} */ (s.address()); s.close(() => resolve(port)); });
  });
}

function freeUdpPort() {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** GET over HTTPS trusting only `ca`. */
function get(url, ca) {
  return new Promise((resolve, reject) => {
    const r = request(url, { ca }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode}`))));
    });
    r.on('error', reject);
    r.end();
  });
}

/**
 * Starts pebble validating TLS-ALPN-01 on 127.0.0.1:`tlsPort`.
 * @param {number} tlsPort
 */
export async function startPebble(tlsPort) {
  const dir = mkdtempSync(path.join(tmpdir(), 'vchat-pebble-'));
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', '/CN=test api CA',
    '-keyout', 'api-ca.key', '-out', 'api-ca.pem', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-keyout', 'api-key.pem', '-out', 'api.csr');
  writeFileSync(path.join(dir, 'api.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  ssl('x509', '-req', '-in', 'api.csr', '-CA', 'api-ca.pem', '-CAkey', 'api-ca.key', '-CAcreateserial', '-days', '30', '-out', 'api-cert.pem', '-extfile', 'api.ext');
  const [listen, management, dnsManagement, dns, httpPort] = [await freePort(), await freePort(), await freePort(), await freeUdpPort(), await freePort()];
  writeFileSync(path.join(dir, 'pebble.json'), JSON.stringify({ pebble: {
    listenAddress: `127.0.0.1:${listen}`, managementListenAddress: `127.0.0.1:${management}`,
    certificate: 'api-cert.pem', privateKey: 'api-key.pem', httpPort, tlsPort, ocspResponderURL: '', externalAccountBindingRequired: false,
  } }));
  const children = [
    spawn('pebble-challtestsrv', ['-dns01', `127.0.0.1:${dns}`, '-http01', '', '-https01', '', '-tlsalpn01', '',
      '-management', `127.0.0.1:${dnsManagement}`, '-defaultIPv6', '', '-defaultIPv4', '127.0.0.1'], { cwd: dir, stdio: 'ignore' }),
    spawn('pebble', ['-config', 'pebble.json', '-dnsserver', `127.0.0.1:${dns}`, '-strict=false'],
      { cwd: dir, stdio: 'ignore', env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' } }),
  ];
  const ca = readFileSync(path.join(dir, 'api-ca.pem'));
  let root = '';
  for (let i = 0; i < 100 && !root; i++) {
    root = await get(`https://127.0.0.1:${management}/roots/0`, ca).catch(() => '');
    if (!root) await new Promise((r) => setTimeout(r, 100));
  }
  if (!root) throw new Error('pebble did not start');
  return {
    directory: `https://127.0.0.1:${listen}/dir`,
    apiCa: path.join(dir, 'api-ca.pem'),
    /** The root pebble issues under (PEM), new at every start. */
    root,
    stop() {
      for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A browser profile home whose NSS database trusts `rootPem` for web sites (what
 * Chromium on Linux reads from `$HOME/.pki/nssdb`).
 * @param {string} rootPem
 */
export function homeTrusting(rootPem) {
  const home = mkdtempSync(path.join(tmpdir(), 'vchat-home-'));
  const db = path.join(home, '.pki', 'nssdb');
  execFileSync('mkdir', ['-p', db]);
  writeFileSync(path.join(home, 'root.pem'), rootPem);
  execFileSync('certutil', ['-d', `sql:${db}`, '-N', '--empty-password'], { stdio: 'ignore' });
  execFileSync('certutil', ['-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', 'pebble-root', '-i', path.join(home, 'root.pem')], { stdio: 'ignore' });
  return home;
}
