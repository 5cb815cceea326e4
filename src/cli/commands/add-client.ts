import { addClient, clientConfigFor } from '../../config/edits.js';
import { nearest } from '../../config/nearest.js';
import { advertisesLoopbackOnly, emptyServerConfig } from '../../config/server-config.js';
import { PsimbolsError } from '../../errors.js';
import { generateKeySpec, keySpecProblem, type KeySpec } from '../../protocol/keys.js';
import { editAndHandOver } from '../client-output.js';
import { dirOf, isDefaultServerPath, readKeyFile, requireArg, serverPath } from '../common.js';
import { inputReader } from '../inputs.js';
import { EXIT } from '../exit-codes.js';
import { firstRunConfig, writeLocalClient } from '../first-run.js';
import { err, type GlobalOptions, type Io } from '../io.js';

type Options = {
  readonly config?: string;
  readonly keyFile?: string;
  readonly server?: string;
  readonly requestsPerHour?: number;
  readonly allow?: string[];
  readonly legacyKey?: string;
  readonly legacyKeyFile?: string;
  readonly output?: string;
  readonly force?: boolean;
};

async function keyOf(io: Io, o: Options): Promise<KeySpec> {
  const given = [o.keyFile && '--key-file', o.legacyKey !== undefined && '--legacy-key', o.legacyKeyFile && '--legacy-key-file'].filter(Boolean);
  if (given.length > 1) throw new PsimbolsError('usage', `${given.join(' and ')} cannot be combined`);
  const read = inputReader(io);
  if (o.keyFile) return readKeyFile(read, o.keyFile);
  // From a file or stdin, the key stays out of the process list, where --legacy-key is seen.
  const legacy = o.legacyKeyFile ? (await read(o.legacyKeyFile, '--legacy-key-file')).replace(/\r?\n$/, '') : o.legacyKey;
  if (legacy === undefined) return generateKeySpec();
  const key: KeySpec = { type: 'AES', mode: 'CBC', data: legacy };
  const problem = keySpecProblem(key);
  if (problem) throw new PsimbolsError('usage', `--legacy-key ${problem.problem}`);
  err(io, 'warning: a legacy client uses AES-CBC without authentication; its traffic can be altered. Prefer a ps2 key.');
  return key;
}

// --allow supermath.factorl is a typo, not a wish: the built-in module's functions are known here.
async function warnUnknownBuiltIns(io: Io, allow: readonly string[]): Promise<void> {
  const named = allow.filter((p) => p.startsWith('supermath.') && p !== 'supermath.*');
  if (named.length === 0) return;
  const { supermath } = await import('../../server/modules/supermath.js');
  const functions = Object.keys(supermath.functions);
  for (const pattern of named) {
    const fn = pattern.slice('supermath.'.length);
    if (functions.includes(fn)) continue;
    const near = nearest(fn, functions);
    err(io, `psimbols: warning: --allow ${pattern}: the built-in module supermath has no function "${fn}"${near === undefined ? '' : ` (did you mean supermath.${near}?)`}; "psimbols functions" lists them`);
  }
}

export async function run(io: Io, g: GlobalOptions, idArg: string | undefined, o: Options): Promise<number> {
  const key = await keyOf(io, o);
  const id = await requireArg(io, g, idArg, 'id', 'Client id');
  const path = serverPath(io, g, o.config);
  // At the default location, the first command to create the config makes the first run's `local` client too.
  const firstRun = isDefaultServerPath(io, o.config);
  const { config, created } = await editAndHandOver(io, {
    path,
    id,
    edit: (c) => addClient(c, id, { key, server: o.server, requestsPerHour: o.requestsPerHour, allow: o.allow }, o.force === true),
    initial: firstRun ? () => firstRunConfig() : emptyServerConfig,
    output: o.output === '-' ? undefined : o.output,
    force: o.force === true,
  });
  err(io, `added client "${id}" to ${path}`);
  await warnUnknownBuiltIns(io, o.allow ?? []);
  if (o.server === undefined && advertisesLoopbackOnly(config)) {
    err(io, `psimbols: warning: the server listens on every address, but this client was told ${clientConfigFor(config, id).server}, which only the server's machine reaches: pass --server URL, or set "server" in ${path}`);
  }
  if (created && firstRun) await writeLocalClient(dirOf(io, g), config, (_level, message, file) => err(io, `${message} (${file})`));
  return EXIT.ok;
}
