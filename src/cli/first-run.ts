import { join } from 'node:path';
import { addClient, clientConfigFor, clientEntry } from '../config/edits.js';
import { CLIENT_CONFIG_FILE } from '../config/paths.js';
import { defaultServerUrl, emptyServerConfig, type ServerConfig } from '../config/server-config.js';
import { toJsonText, writeFileAtomic } from '../config/store.js';
import { isPsimbolsError } from '../errors.js';
import { generateKeySpec } from '../protocol/keys.js';

// The first run, whichever command makes it: the server config at the default location starts
// with one client, `local`, whose config lands beside it as client.json, so that
// `psimbols call supermath factorial n=3` works once `psimbols serve` runs.

/** A new server config with the `local` client; its endpoint is where the server will listen (over HTTPS with `--tls-cert`). */
export function firstRunConfig(listen: { host?: string; port?: number; https?: boolean } = {}): ServerConfig {
  const initial = emptyServerConfig();
  const config = { ...initial, listen: { host: listen.host ?? initial.listen.host, port: listen.port || initial.listen.port } };
  const url = defaultServerUrl(config);
  return addClient(config, 'local', { key: generateKeySpec(), server: listen.https ? url.replace(/^http:/, 'https:') : url });
}

/** Writes client.json for `local` beside the config, unless one is there already; says which happened. */
export async function writeLocalClient(dir: string, config: ServerConfig, say: (level: 'info' | 'warn', message: string, file: string) => void): Promise<void> {
  if (!clientEntry(config, 'local')) return;
  const file = join(dir, CLIENT_CONFIG_FILE);
  try {
    await writeFileAtomic(file, toJsonText(clientConfigFor(config, 'local')), false);
    say('info', 'wrote the "local" client config: psimbols call supermath factorial n=3 uses it', file);
  } catch (e) {
    if (!isPsimbolsError(e, 'file_exists')) throw e;
    say('warn', 'a client config already exists and was kept; run "psimbols rotate-key local -o FILE" for the local client\'s config', file);
  }
}
