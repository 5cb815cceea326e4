import { addClient } from '../../config/edits.js';
import { emptyServerConfig } from '../../config/server-config.js';
import { PsimbolsError } from '../../errors.js';
import { generateKeySpec, keySpecProblem, type KeySpec } from '../../protocol/keys.js';
import { editAndHandOver } from '../client-output.js';
import { dirOf, isDefaultServerPath, readKeyFile, requireArg, serverPath } from '../common.js';
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
  readonly output?: string;
  readonly force?: boolean;
};

async function keyOf(io: Io, o: Options): Promise<KeySpec> {
  if (o.keyFile && o.legacyKey) throw new PsimbolsError('usage', '--key-file and --legacy-key cannot be combined');
  if (o.legacyKey === undefined) return o.keyFile ? readKeyFile(o.keyFile) : generateKeySpec();
  const key: KeySpec = { type: 'AES', mode: 'CBC', data: o.legacyKey };
  const problem = keySpecProblem(key);
  if (problem) throw new PsimbolsError('usage', `--legacy-key ${problem.problem}`);
  err(io, 'warning: a legacy client uses AES-CBC without authentication; its traffic can be altered. Prefer a ps2 key.');
  return key;
}

export async function run(io: Io, g: GlobalOptions, idArg: string | undefined, o: Options): Promise<number> {
  const key = await keyOf(io, o);
  const id = await requireArg(io, g, idArg, 'id', 'Client id');
  const path = serverPath(io, g, o.config);
  // At the default location, the first command to create the config makes the first run's `local` client too.
  const firstRun = isDefaultServerPath(io, g, o.config);
  const { config, created } = await editAndHandOver(io, {
    path,
    id,
    edit: (c) => addClient(c, id, { key, server: o.server, requestsPerHour: o.requestsPerHour, allow: o.allow }, o.force === true),
    initial: firstRun ? () => firstRunConfig() : emptyServerConfig,
    output: o.output,
    force: o.force === true,
  });
  err(io, `added client "${id}" to ${path}`);
  if (created && firstRun) await writeLocalClient(dirOf(io, g), config, (_level, message, file) => err(io, `${message} (${file})`));
  return EXIT.ok;
}
