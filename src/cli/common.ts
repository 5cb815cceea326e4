import type { ClientConfig } from '../config/client-config.js';
import { clientConfigPath, configDir, serverConfigPath } from '../config/paths.js';
import { loadClientConfig } from '../config/store.js';
import { PsimbolsError } from '../errors.js';
import { decodeBase64urlStrict } from '../protocol/base64.js';
import { KEY_BYTES, type V2KeySpec } from '../protocol/keys.js';
import { isName } from '../protocol/messages.js';
import type { ReadInput } from './inputs.js';
import { canPrompt, printWarning, type GlobalOptions, type Io } from './io.js';

/** Warnings about files go to stderr as one line each, yellow on a terminal. */
export const warnOn =
  (io: Io, g: GlobalOptions = {}) =>
  (message: string): void =>
    void printWarning(io, g, message);

export const dirOf = (io: Io, g: GlobalOptions): string => configDir(io.env, g.configDir);
const clientPath = (io: Io, g: GlobalOptions, flag?: string): string => clientConfigPath(io.env, dirOf(io, g), flag);
export const serverPath = (io: Io, g: GlobalOptions, flag?: string): string => serverConfigPath(io.env, dirOf(io, g), flag);
/** True when no flag or environment variable names the server config: only this one is created on a first run. */
export const isDefaultServerPath = (io: Io, flag?: string): boolean => flag === undefined && !io.env.PSIMBOLS_SERVER_CONFIG;

/**
 * Where a refused connection went, when the URL came from the client config: a first run's
 * `serve --port P` wrote P there, and a later `serve --port Q` does not change it.
 */
export function refusedHint(e: unknown, io: Io, g: GlobalOptions, flag: string | undefined, server: string | undefined): unknown {
  if (!(e instanceof PsimbolsError) || e.code !== 'network' || !e.message.includes('ECONNREFUSED') || server !== undefined) return e;
  const path = clientPath(io, g, flag);
  return new PsimbolsError('network', `${e.message}. The URL is "server" in ${path}; if the server listens elsewhere (serve --port), pass --server URL or edit that file`, { cause: e });
}

/** Loads the client config, saying how to get one when it is missing. */
export async function clientConfig(io: Io, g: GlobalOptions, flag?: string): Promise<ClientConfig> {
  const path = clientPath(io, g, flag);
  try {
    return await loadClientConfig(path, warnOn(io));
  } catch (e) {
    if (e instanceof PsimbolsError && e.code === 'config_missing') {
      throw new PsimbolsError('config_missing', `${e.message}: pass --client-config FILE, set PSIMBOLS_CLIENT_CONFIG, or run "psimbols serve" once to create a local client`);
    }
    throw e;
  }
}

/** The module and function names of `call` and `bench`, checked before anything is sealed. */
export function checkCallNames(module: string, fn: string): void {
  for (const [what, name] of [['module', module], ['function', fn]] as const) {
    if (!isName(name)) throw new PsimbolsError('usage', `bad ${what} name ${JSON.stringify(name)}: letters, digits and "_"`);
  }
}



/** A key file (or `-`) holds one base64url key, as `psimbols keygen` writes it. */
export async function readKeyFile(read: ReadInput, path: string): Promise<V2KeySpec> {
  const data = (await read(path, '--key-file')).trim();
  const bytes = decodeBase64urlStrict(data);
  if (bytes === undefined || bytes.length !== KEY_BYTES) throw new PsimbolsError('usage', `${path}: not a key: expected ${KEY_BYTES} bytes in base64url, as "psimbols keygen" writes`);
  return { type: 'AES', mode: 'GCM', encoding: 'base64url', data };
}

/** Asks for a missing required argument when a person can answer, else names the argument. */
export async function requireArg(io: Io, g: GlobalOptions, value: string | undefined, name: string, question: string): Promise<string> {
  if (value !== undefined && value !== '') return value;
  if (!canPrompt(io, g)) throw new PsimbolsError('usage', `missing argument <${name}> (no prompt without a terminal, with --no-input, or in CI)`);
  const { askClientId } = await import('./prompts.js');
  return askClientId(io, question);
}
