import { watch, type FSWatcher } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, resolve } from 'node:path';
import { loadServerConfig } from '../config/store.js';
import type { ServerConfig } from '../config/server-config.js';
import type { AdmissionStore } from './admission.js';
import { FunctionRunner, type LoadedModule } from './function-runner.js';
import { createHandler } from './handler.js';
import type { Logger } from './log.js';
import { importModuleFile } from './module-loader.js';
import { supermath } from './modules/supermath.js';
import { buildState, legacyClients, Processor } from './processor.js';
import { createAdmissionStore } from './stores.js';

// Opens the port: node:http with timeouts against slow and idle clients, hot reload of the
// clients when the config file changes, and a bounded graceful shutdown.

export type Timeouts = {
  /** Whole headers must arrive within this. */
  readonly headersMs: number;
  /** The whole request, body included. */
  readonly requestMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveMs: number;
  /** In-flight requests get this long to finish on shutdown. */
  readonly shutdownMs: number;
};

export type ServeOptions = {
  readonly config: ServerConfig;
  /** Where the config came from: watched for changes and re-read by reload(). */
  readonly configPath?: string;
  readonly host?: string;
  readonly port?: number;
  readonly log: Logger;
  readonly store?: AdmissionStore;
  readonly now?: () => number;
  /** Overrides the config's `limits.*TimeoutMs`. */
  readonly timeouts?: Partial<Timeouts>;
  readonly watch?: boolean;
};

export type RunningServer = {
  readonly url: string;
  readonly port: number;
  readonly processor: Processor;
  /** Re-reads the config file and swaps in its clients; false (old clients kept) if it is invalid. */
  reload(): Promise<boolean>;
  close(): Promise<void>;
};

// A reload swaps in clients, defaults and the timestamp window. Everything else is read once at
// start; a reload that changes it says so rather than pretending.
function restartOnlyChanges(running: ServerConfig, next: ServerConfig): string[] {
  const fields = (c: ServerConfig): Record<string, unknown> => {
    const { pastSeconds: _past, futureSeconds: _future, ...limits } = c.limits;
    return {
      listen: c.listen,
      store: c.store,
      onStoreError: c.onStoreError,
      modules: c.modules,
      ...Object.fromEntries(Object.entries(limits).map(([k, v]) => [`limits.${k}`, v])),
    };
  };
  const before = fields(running);
  return Object.entries(fields(next))
    .filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(before[k]))
    .map(([k]) => k);
}

async function loadModules(config: ServerConfig, configPath: string | undefined): Promise<LoadedModule[]> {
  const modules: LoadedModule[] = [{ def: supermath, isolate: false }];
  for (const entry of config.modules) {
    const path = configPath ? resolve(dirname(configPath), entry.path) : resolve(entry.path);
    const def = await importModuleFile(path);
    modules.push({ def, path, isolate: entry.isolate ?? def.isolate ?? true });
  }
  return modules;
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const { config, log } = o;
  const { limits } = config;
  const timeouts: Timeouts = {
    headersMs: limits.headersTimeoutMs,
    requestMs: limits.requestTimeoutMs,
    keepAliveMs: limits.keepAliveTimeoutMs,
    shutdownMs: limits.shutdownTimeoutMs,
    ...o.timeouts,
  };
  const runner = new FunctionRunner(await loadModules(config, o.configPath), {
    callTimeoutMs: config.limits.callTimeoutMs,
    maxConcurrentCalls: config.limits.maxConcurrentCalls,
  });
  // Nonces live as long as the timestamp window; sweeping no less often keeps memory near that.
  const sweepMs = Math.min(30_000, (config.limits.pastSeconds + config.limits.futureSeconds + 1) * 1000);
  const store = o.store ?? (await createAdmissionStore(config.store, config.onStoreError, log, o.now, sweepMs));
  const state = buildState(config);
  const processor = new Processor(state, {
    store,
    runner,
    ...(o.now ? { now: o.now } : {}),
    failedAuthPerIp: config.limits.failedAuthPerIp,
    failedAuthWindowMs: config.limits.failedAuthWindowSeconds * 1000,
  });
  for (const id of legacyClients(state)) log.log('warn', 'legacy client: AES-CBC without authentication, use a ps2 key when it can', { client: id });

  let closing = false;
  const handler = createHandler({
    processor,
    bodyLimit: config.limits.bodyBytes,
    log,
    closing: () => closing,
    health: () => {
      const h = store.health();
      return `psimbols ok clients=${processor.state.clients.size} store=${h.store}${h.reachable ? '' : ' (unreachable)'}\n`;
    },
  });

  // Node enforces these itself, checking every connection (idle ones that never sent a byte
  // included) at the interval, and answers 408; its default clientError handler answers the rest.
  const server: Server = createServer(
    {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      keepAliveTimeout: timeouts.keepAliveMs,
      connectionsCheckingInterval: Math.min(1000, timeouts.headersMs),
    },
    handler,
  );
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? config.listen.port, o.host ?? config.listen.host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}/`;

  let reloading: Promise<boolean> | undefined;
  const reload = async (): Promise<boolean> => {
    if (!o.configPath) return false;
    const path = o.configPath;
    try {
      const next = await loadServerConfig(path);
      processor.update(buildState(next));
      const pending = restartOnlyChanges(config, next);
      if (pending.length > 0) log.log('warn', `changes to ${pending.join(', ')} take effect on restart`, { file: path });
      log.log('info', 'config reloaded', { file: path, clients: Object.keys(next.clients).length });
      return true;
    } catch (e) {
      log.log('error', 'config not reloaded, still serving the previous clients', { file: path, problem: e instanceof Error ? e.message : String(e) });
      return false;
    }
  };
  const serialReload = (): Promise<boolean> => {
    reloading = (reloading ?? Promise.resolve(true)).then(reload, reload);
    return reloading;
  };

  let watcher: FSWatcher | undefined;
  if (o.configPath && o.watch !== false) {
    // Watch the directory: an atomic write replaces the file, which a file watch would lose.
    const file = basename(o.configPath);
    let timer: NodeJS.Timeout | undefined;
    watcher = watch(dirname(o.configPath), (_event, name) => {
      if (name !== file) return;
      clearTimeout(timer);
      timer = setTimeout(() => void serialReload(), 100);
    });
    watcher.on('error', () => undefined);
  }

  const close = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    watcher?.close();
    const done = new Promise<void>((r) => server.close(() => r()));
    // Keep-alive connections become idle as their last response goes out: close them then.
    server.closeIdleConnections();
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    const timer = setTimeout(() => server.closeAllConnections(), timeouts.shutdownMs);
    await done;
    clearInterval(sweep);
    clearTimeout(timer);
    await runner.close();
    await store.close();
  };

  return { url, port: address.port, processor, reload: serialReload, close };
}
