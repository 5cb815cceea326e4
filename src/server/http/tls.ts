import { X509Certificate } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { ServerConfig } from '../../config/server-config.js';
import { readTlsFiles, type Warn } from '../../config/store.js';
import { errorMessage, PsimbolsError } from '../../errors.js';
import { watchFiles } from '../core/reload.js';
import type { Logger } from '../observe/log.js';

// HTTPS on the listener (and the metrics port): the certificate and key named by listen.tls or
// --tls-cert/--tls-key. They are read again on SIGHUP, and when they change: a new pair serves
// new connections, the open ones keep theirs, so a renewal drops nothing. A pair that does not
// load is refused at start, and on a reload logged while the previous pair goes on serving.

export type TlsFiles = { readonly cert: string; readonly key: string };
type Pair = { readonly cert: Buffer; readonly key: Buffer };
/** An https.Server, a tls.Server: what takes a new pair for its next connections. */
type Secured = { setSecureContext(options: SecureContextOptions): void };

/** The files to serve, resolved against the config file's folder as module paths are. */
export function tlsFilesOf(config: ServerConfig, configPath: string | undefined): TlsFiles | undefined {
  const tls = config.listen.tls;
  if (tls === undefined) return undefined;
  const at = (p: string): string => (configPath === undefined ? resolve(p) : resolve(dirname(configPath), p));
  return { cert: at(tls.cert), key: at(tls.key) };
}

/** Reads a pair and checks it: a key that is not the certificate's is refused here, not at the first handshake. */
export async function loadPair(files: TlsFiles, warn?: Warn): Promise<Pair & { readonly expires: string }> {
  const pair = await readTlsFiles(files.cert, files.key, warn);
  try {
    createSecureContext(pair);
    return { ...pair, expires: new Date(new X509Certificate(pair.cert).validTo).toISOString() };
  } catch (e) {
    throw new PsimbolsError('config_invalid', `${files.cert}, ${files.key}: not a PEM certificate and its private key (${errorMessage(e)})`, { cause: e });
  }
}

const same = (a: Pair, b: Pair): boolean => a.cert.equals(b.cert) && a.key.equals(b.key);

export type TlsSource = {
  /** The pair in use, for a new server. */
  readonly options: () => Pair;
  /** Gives `server` each new pair from now on. */
  attach(server: Secured): void;
  /** Reads the files again; true when they load (changed or not), false when the old pair stays. Serialised. */
  reload(): Promise<boolean>;
  close(): void;
};

type SourceOptions = {
  /** Reload when the files change. */
  readonly watch: boolean;
  /** Warn about a key file others can read: the process that owns the files does, once. */
  readonly warn: boolean;
  /** Told when a reload brought a new pair (a cluster's primary tells its workers). */
  readonly changed?: () => void;
};

export async function tlsSource(files: TlsFiles, log: Logger, o: SourceOptions): Promise<TlsSource> {
  const warn = o.warn ? (m: string): void => log.log('warn', m) : undefined;
  let pair = await loadPair(files, warn);
  if (Date.parse(pair.expires) < Date.now()) log.log('warn', `the certificate expired on ${pair.expires}: clients will refuse it`, { file: files.cert });
  const servers: Secured[] = [];
  const once = async (): Promise<boolean> => {
    try {
      const next = await loadPair(files, warn);
      if (same(pair, next)) return true;
      pair = next;
      for (const s of servers) s.setSecureContext({ cert: pair.cert, key: pair.key });
      log.log('info', 'certificate reloaded', { file: files.cert, expires: pair.expires });
      o.changed?.();
      return true;
    } catch (e) {
      log.log('error', 'certificate not reloaded, still serving the previous one', { file: files.cert, problem: errorMessage(e) });
      return false;
    }
  };
  let last: Promise<boolean> = Promise.resolve(true);
  const reload = (): Promise<boolean> => (last = last.then(once, once));
  const watcher = o.watch ? watchFiles([files.cert, files.key], () => void reload(), 'any') : undefined;
  return { options: () => ({ cert: pair.cert, key: pair.key }), attach: (s) => void servers.push(s), reload, close: () => watcher?.close() };
}
