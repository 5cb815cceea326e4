import { readFile } from 'node:fs/promises';
import type { CallOptions } from '../client/client.js';
import type { Env } from '../config/paths.js';
import { fileProblem, PsimbolsError } from '../errors.js';

// Whom `call` trusts for an https server. --cacert FILE: that file's certificates alone, as
// curl takes it. Otherwise Node's list with NODE_EXTRA_CA_CERTS, and when that does not know a
// server's issuer, the system's store too (read only then: building it costs 50 to 150 ms).

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

// --cacert's certificates: a file that holds none is a usage error, found before anything is sent.
async function caFile(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8').catch((e: unknown) => Promise.reject(new PsimbolsError('usage', `--cacert ${path}: ${fileProblem(e)}`, { cause: e })));
  const certs = text.match(PEM);
  if (certs === null) throw new PsimbolsError('usage', `--cacert ${path}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return certs;
}

// Where OpenSSL's system bundle lives: SSL_CERT_FILE, else Debian's, Red Hat's, Alpine's place.
const BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];

async function firstReadable(paths: readonly (string | undefined)[]): Promise<string> {
  for (const path of paths) {
    if (path === undefined || path === '') continue;
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text !== undefined) return text;
  }
  return '';
}

type CaList = { getCACertificates?: (kind: 'default' | 'system') => string[] };

// Node's list, NODE_EXTRA_CA_CERTS (a `ca` option replaces both) and the system's store.
async function systemCa(env: Env): Promise<string[]> {
  // Loaded here: an http:// call never needs node:tls.
  const tls = await import('node:tls');
  const { getCACertificates } = tls as CaList;
  // Node 22.15 and later read the system's store themselves.
  if (getCACertificates !== undefined) return [...getCACertificates('default'), ...getCACertificates('system')];
  const extra = await firstReadable([env.NODE_EXTRA_CA_CERTS]);
  const system = await firstReadable([env.SSL_CERT_FILE, ...BUNDLES]);
  return [...tls.rootCertificates, extra, system].filter((pem) => pem !== '');
}

/** The client's trust options for --cacert, or its absence: the system's store is read once a run, when first wanted. */
export async function trustOptions(env: Env, cacert: string | undefined): Promise<Pick<CallOptions, 'ca' | 'moreCa'>> {
  if (cacert !== undefined) return { ca: await caFile(cacert) };
  let system: Promise<string[]> | undefined;
  return { moreCa: () => (system ??= systemCa(env)) };
}

/** Every certificate to trust for an https server at once, for a run of many requests (bench). */
export async function trustedCa(env: Env, server: string, cacert: string | undefined): Promise<readonly string[] | undefined> {
  if (cacert !== undefined) return caFile(cacert);
  return server.startsWith('https:') ? systemCa(env) : undefined;
}
