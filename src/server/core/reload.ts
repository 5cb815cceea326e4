import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { loadServerConfig } from '../../config/store.js';
import type { ServerConfig } from '../../config/server-config.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../observe/log.js';

// Hot reload: a changed config file (or SIGHUP, through reload()) swaps in what the table below
// marks 'reload'; the rest is read once at start, and a reload that changes it says so. Flags
// given to `serve` are a layer over the file: the file is compared with the file it replaces, and
// the flags are applied again to what is served.

type When = 'reload' | 'restart';
type Limits = ServerConfig['limits'];

const LIMITS: { readonly [K in keyof Limits]: When } = {
  bodyBytes: 'restart',
  callTimeoutMs: 'restart',
  maxConcurrentCalls: 'restart',
  pastSeconds: 'reload',
  futureSeconds: 'reload',
  failedAuthPerIp: 'restart',
  failedAuthWindowSeconds: 'restart',
  headersTimeoutMs: 'restart',
  requestTimeoutMs: 'restart',
  keepAliveTimeoutMs: 'restart',
  shutdownTimeoutMs: 'restart',
};

/** Each field of a server config: does a reload apply it, or only a restart? */
const FIELDS: { readonly [K in Exclude<keyof ServerConfig, 'limits'>]: When } = {
  listen: 'restart',
  server: 'reload',
  defaults: 'reload',
  trustProxy: 'restart',
  proxyHeader: 'restart',
  store: 'restart',
  onStoreError: 'restart',
  modules: 'restart',
  workers: 'restart',
  metrics: 'restart',
  clients: 'reload',
};

const keysOf = <T extends object>(o: T): (keyof T)[] => Object.keys(o) as (keyof T)[];
const differ = (a: unknown, b: unknown): boolean => JSON.stringify(a) !== JSON.stringify(b);
const copy = <T, K extends keyof T>(to: T, from: T, k: K): void => void (to[k] = from[k]);

/** The restart-only fields that differ between two versions of the file, by name. */
function restartOnlyChanges(running: ServerConfig, next: ServerConfig): string[] {
  const top = keysOf(FIELDS).filter((k) => FIELDS[k] === 'restart' && differ(running[k], next[k]));
  const limits = keysOf(LIMITS).filter((k) => LIMITS[k] === 'restart' && differ(running.limits[k], next.limits[k]));
  return [...top, ...limits.map((k) => `limits.${k}`)];
}

/** What a process started with, but with what a reload changes (clients, defaults, the window) from `latest`. */
export function withReloadable(start: ServerConfig, latest: ServerConfig): ServerConfig {
  const config = { ...start, limits: { ...start.limits } };
  for (const k of keysOf(FIELDS)) if (FIELDS[k] === 'reload') copy(config, latest, k);
  for (const k of keysOf(LIMITS)) if (LIMITS[k] === 'reload') copy(config.limits, latest.limits, k);
  return config;
}

/** Settings given to `serve` as flags, which stand over the file's. */
export type ConfigFlags = { readonly store?: string; readonly tls?: { readonly cert: string; readonly key: string } };

export function withFlags(config: ServerConfig, flags: ConfigFlags | undefined): ServerConfig {
  const { store, tls } = flags ?? {};
  return { ...config, store: store ?? config.store, listen: tls === undefined ? config.listen : { ...config.listen, tls } };
}

type Reloader = {
  /** Re-reads the file and swaps in its clients; false (old clients kept) if it is invalid. Serialised. */
  reload(): Promise<boolean>;
  close(): void;
};

/**
 * `config`: the file as the process started with it, before flags. `apply` swaps in a valid
 * config (flags applied) everywhere it serves, or throws and changes nothing.
 */
export function createReloader(o: { config: ServerConfig; flags?: ConfigFlags; path: string; apply: (next: ServerConfig) => Promise<void>; log: Logger; watch: boolean }): Reloader {
  const { path, log } = o;
  const once = async (): Promise<boolean> => {
    try {
      const next = await loadServerConfig(path, (m) => log.log('warn', m));
      await o.apply(withFlags(next, o.flags));
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
  const watcher = o.watch ? watchFiles([path], reload, 'by-name') : undefined;
  return { reload, close: () => watcher?.close() };
}

/**
 * Calls `onChange` (once, 100 ms after the last event) when one of the files changes. Their
 * folders are watched: an atomic write replaces a file, which a watch on the file would lose.
 * 'any' wakes on any change in those folders, for files that a symbolic link names (a Kubernetes
 * secret swaps a `..data` link): `onChange` must then tell for itself whether the file changed.
 */
export function watchFiles(paths: readonly string[], onChange: () => void, match: 'by-name' | 'any'): { close(): void } {
  const names = new Set(paths.map((p) => basename(p)));
  let timer: NodeJS.Timeout | undefined;
  const watchers: FSWatcher[] = [...new Set(paths.map((p) => dirname(p)))].map((dir) => {
    const watcher = watch(dir, (_event, name) => {
      if (match === 'by-name' && (name === null || !names.has(name))) return;
      clearTimeout(timer);
      timer = setTimeout(onChange, 100);
    });
    return watcher.on('error', () => undefined);
  });
  return {
    close: () => {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
