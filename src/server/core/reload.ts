import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { loadServerConfig } from '../../config/store.js';
import type { ServerConfig } from '../../config/server-config.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../observe/log.js';

// Hot reload: a changed config file (or SIGHUP, through reload()) swaps in clients, defaults and
// the timestamp window. Everything else is read once at start; a reload that changes it says so.

function restartOnlyChanges(running: ServerConfig, next: ServerConfig): string[] {
  const fields = (c: ServerConfig): Record<string, unknown> => {
    const { pastSeconds: _past, futureSeconds: _future, ...limits } = c.limits;
    return {
      listen: c.listen,
      store: c.store,
      onStoreError: c.onStoreError,
      trustProxy: c.trustProxy,
      modules: c.modules,
      workers: c.workers,
      metrics: c.metrics,
      ...Object.fromEntries(Object.entries(limits).map(([k, v]) => [`limits.${k}`, v])),
    };
  };
  const before = fields(running);
  return Object.entries(fields(next))
    .filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(before[k]))
    .map(([k]) => k);
}

/** What a process started with, but with what a reload changes (clients, defaults, the window) from `latest`. */
export function withReloadable(start: ServerConfig, latest: ServerConfig): ServerConfig {
  const { pastSeconds, futureSeconds } = latest.limits;
  return { ...start, server: latest.server, defaults: latest.defaults, clients: latest.clients, limits: { ...start.limits, pastSeconds, futureSeconds } };
}

type Reloader = {
  /** Re-reads the file and swaps in its clients; false (old clients kept) if it is invalid. Serialised. */
  reload(): Promise<boolean>;
  close(): void;
};

/** `apply` swaps in a valid config everywhere it serves, or throws and changes nothing. */
export function createReloader(o: { config: ServerConfig; path: string; apply: (next: ServerConfig) => Promise<void>; log: Logger; watch: boolean }): Reloader {
  const { path, log } = o;
  const once = async (): Promise<boolean> => {
    try {
      const next = await loadServerConfig(path, (m) => log.log('warn', m));
      await o.apply(next);
      const pending = restartOnlyChanges(o.config, next);
      if (pending.length > 0) log.log('warn', `changes to ${pending.join(', ')} take effect on restart`, { file: path });
      log.log('info', 'config reloaded', { file: path, clients: Object.keys(next.clients).length });
      return true;
    } catch (e) {
      log.log('error', 'config not reloaded, still serving the previous clients', { file: path, problem: errorMessage(e) });
      return false;
    }
  };
  let last: Promise<boolean> = Promise.resolve(true);
  const reload = (): Promise<boolean> => (last = last.then(once, once));
  const watcher = o.watch ? watchFile(path, reload) : undefined;
  return { reload, close: () => watcher?.close() };
}

function watchFile(path: string, onChange: () => void): FSWatcher {
  // Watch the directory: an atomic write replaces the file, which a file watch would lose.
  const file = basename(path);
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(dirname(path), (_event, name) => {
    if (name !== file) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, 100);
  });
  watcher.on('error', () => undefined);
  return watcher;
}
