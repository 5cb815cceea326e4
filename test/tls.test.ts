import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmod, copyFile, readFile, writeFile } from 'node:fs/promises';
import { get } from 'node:https';
import { connect as connectTcp } from 'node:net';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { parseServerConfig } from '../src/config/server-config.js';
import { startServer } from '../src/server/http/start-server.js';
import { freePort, runBinary, runCli, spawnServe } from './helpers/cli.js';
import { makePki, type Pki } from './helpers/pki.js';
import { startTestServer, tempDir, type TestServer } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

// HTTPS on the listener: serve --tls-cert/--tls-key (or listen.tls), reloaded without dropping a
// connection; call --cacert, NODE_EXTRA_CA_CERTS and the system's store; a certificate that does
// not verify is exit 6, never an unverified connection. The CA and certificates are made with
// openssl as the tests run (helpers/pki.ts).

let pki: Pki;
before(() => void (pki = makePki()));
after(() => pki.remove());

const fingerprintOf = (pem: string | Buffer): string => new X509Certificate(pem).fingerprint256;

/** Opens a TLS connection trusting the test CA; resolves once the handshake is done. */
function tlsSocket(port: number, ca: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => resolve(socket));
    socket.once('error', reject);
  });
}
const servedCert = (s: TLSSocket): string => s.getPeerX509Certificate()?.fingerprint256 ?? '';

/** A GET / on an open connection, and the status line that comes back. */
function getOn(socket: TLSSocket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (d: Buffer) => resolve(d.toString().split('\r\n')[0] ?? ''));
    socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  });
}

async function withTlsServer(body: (t: TestServer, file: string) => Promise<void>): Promise<void> {
  const t = await startTestServer({ config: { listen: { host: '127.0.0.1', port: 0, tls: { cert: pki.cert, key: pki.key } } } });
  const dir = await tempDir();
  try {
    const file = join(dir.path, 'client.json');
    await writeFile(file, JSON.stringify(t.client('alice')), { mode: 0o600 });
    await body(t, file);
  } finally {
    await t.close();
    await dir.remove();
  }
}

describe('serve over HTTPS', () => {
  test('serve --tls-cert --tls-key --workers 2 serves HTTPS and its metrics over HTTPS; call trusts --cacert, NODE_EXTRA_CA_CERTS or the system store', async () => {
    const dir = await tempDir();
    const port = await freePort();
    const env = { PSIMBOLS_CONFIG_DIR: dir.path };
    const file = join(dir.path, 'alice.json');
    try {
      assert.equal((await runCli(['add-client', 'alice', '--server', `https://127.0.0.1:${port}/`, '-o', file], { env })).code, 0);
      const served = await spawnServe(['--port', String(port), '--workers', '2', '--tls-cert', pki.cert, '--tls-key', pki.key, '--metrics', `127.0.0.1:${await freePort()}`], env);
      try {
        assert.equal(served.url, `https://127.0.0.1:${port}/`);
        const call = (args: string[], more: Record<string, string> = {}) => runBinary(['call', 'supermath', 'factorial', 'n=3', '--client-config', file, ...args], { env: { ...env, ...more } });
        const [cacert, extra, system] = await Promise.all([call(['--cacert', pki.ca]), call([], { NODE_EXTRA_CA_CERTS: pki.ca }), call([], { SSL_CERT_FILE: pki.ca })]);
        for (const r of [cacert, extra, system]) assert.deepEqual([r.code, r.stdout], [0, '6\n'], r.stderr);
        const metricsUrl = /"metrics":"(https:\/\/[^"]+)"/.exec(served.stderr())?.[1];
        assert.ok(metricsUrl, served.stderr());
        const scraped = await fetchOverTls(metricsUrl);
        assert.match(scraped, /psimbols_requests_total/);
      } finally {
        await served.stop();
      }
    } finally {
      await dir.remove();
    }
  });

  test('a first serve with --tls-cert gives the local client an https:// URL; a later serve without TLS says the client will not reach it', async () => {
    const dir = await tempDir();
    const port = await freePort();
    const env = { PSIMBOLS_CONFIG_DIR: dir.path };
    try {
      const tls = await spawnServe(['--port', String(port), '--tls-cert', pki.cert, '--tls-key', pki.key], env);
      try {
        const local = JSON.parse(await readFile(join(dir.path, 'client.json'), 'utf8')) as { server: string };
        assert.equal(local.server, `https://127.0.0.1:${port}/`);
        const r = await runCli(['call', 'supermath', 'factorial', 'n=3', '--cacert', pki.ca], { env });
        assert.deepEqual([r.code, r.stdout], [0, '6\n'], r.stderr);
      } finally {
        await tls.stop();
      }
      const plain = await spawnServe(['--port', String(port)], env);
      await plain.stop();
      assert.match(plain.stderr(), /the local client's config points at https:\/\/127\.0\.0\.1:\d+\/, not at this server/);
    } finally {
      await dir.remove();
    }
  });

  test('a certificate that does not verify is exit 6 and says what to do; nothing is sent unverified', async () => {
    await withTlsServer(async (t, file) => {
      const base = ['call', 'supermath', 'factorial', 'n=3', '--client-config', file, '--server', t.url];
      const wrongCa = await runCli([...base, '--cacert', pki.otherCa]);
      assert.equal(wrongCa.code, 6, wrongCa.stderr);
      assert.match(wrongCa.stderr, /its certificate does not verify \(\w+: .+\); trust the CA that signed it with --cacert FILE/);
      // Neither Node's list nor this machine's store knows the test CA.
      const none = await runCli(base, { env: { SSL_CERT_FILE: '/dev/null' } });
      assert.equal(none.code, 6, none.stderr);
      assert.equal(t.access.filter((a) => a.outcome !== 'health').length, 0, 'no request reached the server');
      const ok = await runCli([...base, '--cacert', pki.ca]);
      assert.deepEqual([ok.code, ok.stdout], [0, '6\n'], ok.stderr);
    });
  });

  test('bench measures an HTTPS server with --cacert, and without it says why nothing answered', async () => {
    await withTlsServer(async (t, file) => {
      const base = ['bench', '-n', '20', '-c', '2', '--client-config', file, '--server', t.url];
      const r = await runCli([...base, '--cacert', pki.ca]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /20 requests over 2 connections/);
      const refused = await runCli(base, { env: { SSL_CERT_FILE: '/dev/null' } });
      assert.equal(refused.code, 3);
      assert.match(refused.stderr, /no answer from https:.*: .*certificate/i);
    });
  });

  test('--cacert without a certificate is a usage error; http:// to an HTTPS server, and https:// to a plain one, say which to use', async () => {
    await withTlsServer(async (t, file) => {
      const base = ['call', 'supermath', 'factorial', 'n=3', '--client-config', file];
      const empty = await runCli([...base, '--server', t.url, '--cacert', file]);
      assert.equal(empty.code, 2);
      assert.match(empty.stderr, /--cacert .*: holds no PEM certificate/);
      const plain = await runCli([...base, '--server', t.url.replace('https:', 'http:')]);
      assert.equal(plain.code, 3, plain.stderr);
      assert.match(plain.stderr, /if the server serves HTTPS, use an https:\/\/ URL/);
    });
    const plainServer = await startTestServer();
    try {
      const dir = await tempDir();
      const file = join(dir.path, 'client.json');
      await writeFile(file, JSON.stringify(plainServer.client('alice')), { mode: 0o600 });
      const r = await runCli(['call', 'supermath', 'factorial', 'n=3', '--client-config', file, '--server', plainServer.url.replace('http:', 'https:'), '--cacert', pki.ca]);
      await dir.remove();
      assert.equal(r.code, 6, r.stderr);
      assert.match(r.stderr, /does not answer in TLS .*use an http:\/\/ URL/);
    } finally {
      await plainServer.close();
    }
  });

  test('a new certificate serves new connections on SIGHUP and when its files change; an open connection is not dropped', async () => {
    const dir = await tempDir();
    const configPath = join(dir.path, 'server.json');
    const [cert, key] = [join(dir.path, 'tls.pem'), join(dir.path, 'tls.key')];
    await Promise.all([copyFile(pki.cert, cert), copyFile(pki.key, key)]);
    await writeFile(configPath, JSON.stringify({ listen: { host: '127.0.0.1', port: 0, tls: { cert: 'tls.pem', key: 'tls.key' } } }), { mode: 0o600 });
    const messages: string[] = [];
    const log = { access: () => undefined, log: (level: string, m: string) => void messages.push(`${level} ${m}`) };
    const server = await startServer({ config: parseServerConfig(JSON.parse(await readFile(configPath, 'utf8')), configPath), configPath, log, watch: true });
    const ca = await readFile(pki.ca, 'utf8');
    const open = await tlsSocket(server.port, ca);
    try {
      const first = servedCert(open);
      assert.equal(first, fingerprintOf(await readFile(cert)));
      // SIGHUP's path: reload() reads the files again.
      const renewed = pki.renew();
      await Promise.all([copyFile(pki.cert, cert), copyFile(pki.key, key)]);
      assert.equal(await server.reload(), true);
      const next = await tlsSocket(server.port, ca);
      assert.notEqual(servedCert(next), first);
      next.destroy();
      assert.match(await getOn(open), /^HTTP\/1\.1 200/, 'the connection opened before the reload still answers');
      // The watch: a renewal written over the files is served without a signal.
      pki.renew();
      await Promise.all([copyFile(pki.cert, cert), copyFile(pki.key, key)]);
      assert.ok(await eventually(async () => {
        const s = await tlsSocket(server.port, ca);
        const now = servedCert(s);
        s.destroy();
        return now !== first && now !== fingerprintOf(renewed);
      }), messages.join('\n'));
      assert.ok(messages.filter((m) => m === 'info certificate reloaded').length >= 2, messages.join('\n'));
    } finally {
      open.destroy();
      await server.close();
      await dir.remove();
    }
  });

  test('a pair that does not load stops the start; on a reload the previous pair goes on serving; a key others can read is warned about', async () => {
    const dir = await tempDir();
    const [cert, key] = [join(dir.path, 'tls.pem'), join(dir.path, 'tls.key')];
    await Promise.all([copyFile(pki.cert, cert), copyFile(pki.otherCa.replace('.pem', '.key'), key)]);
    const messages: string[] = [];
    const log = { access: () => undefined, log: (level: string, m: string) => void messages.push(`${level} ${m}`) };
    const config = (tls: { cert: string; key: string }) => parseServerConfig({ listen: { host: '127.0.0.1', port: 0, tls } }, 'test');
    try {
      await assert.rejects(startServer({ config: config({ cert, key }), log, watch: false }), (e: Error & { code?: string }) => e.code === 'config_invalid' && e.message.includes('not a PEM certificate and its private key'));
      await copyFile(pki.key, key);
      await chmod(key, 0o644);
      const server = await startServer({ config: config({ cert, key }), log, configPath: join(dir.path, 'server.json'), watch: false });
      try {
        assert.ok(messages.some((m) => m.startsWith('warn') && m.includes(`${key} holds a private key and can be read by other users (mode 0644): run "chmod 600`)), messages.join('\n'));
        const first = await tlsSocket(server.port, await readFile(pki.ca, 'utf8'));
        const before = servedCert(first);
        first.destroy();
        await writeFile(key, 'not a key');
        assert.equal(await server.reload(), false);
        assert.ok(messages.includes('error certificate not reloaded, still serving the previous one'), messages.join('\n'));
        const s = await tlsSocket(server.port, await readFile(pki.ca, 'utf8'));
        assert.equal(servedCert(s), before);
        s.destroy();
      } finally {
        await server.close();
      }
    } finally {
      await dir.remove();
    }
  });

  test('a connection that never finishes its handshake is closed after the headers timeout', async () => {
    const t = await startTestServer({ config: { listen: { host: '127.0.0.1', port: 0, tls: { cert: pki.cert, key: pki.key } } }, timeouts: { headersMs: 300, requestMs: 1000 } });
    try {
      const port = Number(new URL(t.url).port);
      const closed = await new Promise<boolean>((resolve) => {
        const s = connectTcp(port, '127.0.0.1');
        // Node's default would hold it 120 s: the test's own limit ends far sooner.
        const limit = setTimeout(() => resolve(false), 10_000);
        s.on('close', () => {
          clearTimeout(limit);
          resolve(true);
        });
        s.on('error', () => undefined);
      });
      assert.equal(closed, true);
    } finally {
      await t.close();
    }
  });
});

async function fetchOverTls(url: string): Promise<string> {
  const ca = await readFile(pki.ca, 'utf8');
  return new Promise<string>((resolve, reject) => {
    get(url, { ca }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
}
