import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientConfig } from '../../src/config/client-config.js';
import { parseServerConfig, type ServerConfig } from '../../src/config/server-config.js';
import { generateKeySpec, type KeySpec } from '../../src/protocol/keys.js';
import { MemoryAdmissionStore } from '../../src/server/admission/memory-store.js';
import type { RunningServer, Timeouts } from '../../src/server/http/start-server.js';
import type { AccessFields, Logger } from '../../src/server/observe/log.js';
import { atRoot } from './root.js';

export const LEGACY_KEY = '12345678901234567890123456789012';

/** The absolute path of a file in test/fixtures/. */
export const fixture = (name: string): string => atRoot('test/fixtures', name);

export type TestServer = {
  readonly server: RunningServer;
  readonly url: string;
  readonly config: ServerConfig;
  readonly access: AccessFields[];
  /** The memory store, when the test server made one (no store in the config). */
  readonly store: MemoryAdmissionStore | undefined;
  readonly messages: string[];
  client(id: string): ClientConfig;
  close(): Promise<void>;
};

/** A fake clock: tests move time by hand. */
export function fakeClock(start = Date.now()): { now: () => number; advance: (ms: number) => void; set: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms), set: (ms) => void (t = ms) };
}

export type TestServerOptions = {
  readonly config?: Record<string, unknown>;
  readonly clients?: Record<string, Record<string, unknown>>;
  readonly now?: () => number;
  readonly timeouts?: Partial<Timeouts>;
  readonly configPath?: string;
};

/** A real server on a free port with two clients: alice (ps2) and old (legacy CBC). */
export async function startTestServer(o: TestServerOptions = {}): Promise<TestServer> {
  const aliceKey: KeySpec = generateKeySpec();
  const clients = o.clients ?? {
    alice: { keys: [aliceKey], requestsPerHour: 100 },
    old: { keys: [{ type: 'AES', mode: 'CBC', data: LEGACY_KEY }], requestsPerHour: 100 },
  };
  // The URL is only known after listening, so clients are bound to a placeholder host first.
  const placeholder = 'http://psimbols.test:9393/';
  const withServer = Object.fromEntries(Object.entries(clients).map(([id, c]) => [id, { server: placeholder, ...c }]));
  const config = parseServerConfig({ listen: { host: '127.0.0.1', port: 0 }, ...o.config, clients: withServer }, 'test-config');
  const access: AccessFields[] = [];
  const messages: string[] = [];
  const log: Logger = { access: (f) => void access.push(f), log: (level, m) => void messages.push(`${level} ${m}`) };
  // A config that names a store (Redis) gets the real store factory; otherwise an unswept memory store.
  const store = o.config?.store ? undefined : new MemoryAdmissionStore({ ...(o.now ? { now: o.now } : {}), sweep: false });
  // Loaded here: files that use only this module's other helpers do not pay for the server.
  const { startServer } = await import('../../src/server/http/start-server.js');
  const server = await startServer({
    config,
    log,
    ...(store ? { store } : {}),
    ...(o.now ? { now: o.now } : {}),
    ...(o.timeouts ? { timeouts: o.timeouts } : {}),
    ...(o.configPath ? { configPath: o.configPath } : { watch: false }),
  });
  return {
    server,
    url: server.url,
    config,
    access,
    messages,
    store,
    client: (id) => {
      const entry = config.clients[id];
      if (!entry?.keys[0]) throw new Error(`no client ${id}`);
      return { client: id, server: entry.server ?? placeholder, key: entry.keys[0] };
    },
    close: () => server.close(),
  };
}

export type Reply = { status: number; headers: Headers; text: string };

// Keep-alive connections for post(): node:http costs the test process a fraction of what fetch
// does a request, and the fuzz and flood tests send thousands. An idle pooled connection does not
// keep a test file's process alive.
const agent = new Agent({ keepAlive: true });
agent.on('free', (socket: Socket) => socket.unref());

export function post(url: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
        resolve({ status: res.statusCode ?? 0, headers: h, text });
      });
    });
    req.on('socket', (socket) => socket.ref());
    req.on('error', reject);
    req.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}

/** POST on a connection of its own, closed after the answer (with workers, successive ones go to successive workers); `from` a loopback address of the test's own. */
export function postFresh(url: string, body: unknown, from = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, localAddress: from, headers: { 'content-type': 'application/json', connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

export async function tempDir(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'psimbols-test-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
