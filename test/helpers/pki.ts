import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A certificate authority and server certificates made with openssl when a test runs: no key is
// committed. EC P-256, so that making them costs milliseconds.

export type Pki = {
  readonly dir: string;
  /** The CA that signs the server's certificates. */
  readonly ca: string;
  /** Another CA, which signed nothing the server serves. */
  readonly otherCa: string;
  /** The server's certificate (for 127.0.0.1 and localhost) and its key, mode 0600. */
  readonly cert: string;
  readonly key: string;
  /** Writes a fresh certificate and key, from the same CA, over `cert` and `key`; returns the new certificate's PEM. */
  renew(): string;
  remove(): void;
};

const openssl = (args: readonly string[], cwd: string): string => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string): void {
  openssl(['req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`], dir);
}

function makeServerCert(dir: string, into: { cert: string; key: string }): string {
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['req', ...EC, '-keyout', 'new.key', '-out', 'server.csr', '-subj', '/CN=localhost'], dir);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'new.pem', '-days', '1', '-extfile', 'san.ext'], dir);
  chmodSync(join(dir, 'new.key'), 0o600);
  // Renamed into place, as an atomic deploy (or certbot's link swap) does.
  execFileSync('mv', [join(dir, 'new.key'), into.key]);
  execFileSync('mv', [join(dir, 'new.pem'), into.cert]);
  return openssl(['x509', '-in', into.cert], dir);
}

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'psimbols-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  const files = { cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
  makeServerCert(dir, files);
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    otherCa: join(dir, 'other-ca.pem'),
    ...files,
    renew: () => makeServerCert(dir, files),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
