import { resolve } from 'node:path';
import { addClient, clientConfigFor } from '../../config/edits.js';
import { emptyServerConfig } from '../../config/server-config.js';
import { toJsonText, updateServerConfig, writeFileAtomic } from '../../config/store.js';
import { PsimbolsError } from '../../errors.js';
import { generateKeySpec, keySpecProblem, type KeySpec } from '../../protocol/keys.js';
import { readKeyFile, requireArg, serverPath } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { err, out, type GlobalOptions, type Io } from '../io.js';

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

/** Writes a client config to -o FILE (0600) or prints it on stdout. */
export async function emitClientConfig(io: Io, value: unknown, output: string | undefined, force: boolean): Promise<void> {
  if (output) {
    const path = resolve(output);
    await writeFileAtomic(path, toJsonText(value), force);
    err(io, `wrote ${path}`);
  } else out(io, JSON.stringify(value, null, 2));
}

export async function run(io: Io, g: GlobalOptions, idArg: string | undefined, o: Options): Promise<number> {
  if (o.keyFile && o.legacyKey) throw new PsimbolsError('usage', '--key-file and --legacy-key cannot be combined');
  let key: KeySpec;
  if (o.legacyKey !== undefined) {
    key = { type: 'AES', mode: 'CBC', data: o.legacyKey };
    const problem = keySpecProblem(key);
    if (problem) throw new PsimbolsError('usage', `--legacy-key ${problem.problem}`);
    err(io, 'warning: a legacy client uses AES-CBC without authentication; its traffic can be altered. Prefer a ps2 key.');
  } else key = o.keyFile ? await readKeyFile(o.keyFile) : generateKeySpec();
  const id = await requireArg(io, g, idArg, 'id', 'Client id');

  const path = serverPath(io, g, o.config);
  const config = await updateServerConfig(
    path,
    (c) =>
      addClient(c, id, {
        key,
        server: o.server,
        requestsPerHour: o.requestsPerHour,
        allow: o.allow,
      }, o.force === true),
    emptyServerConfig,
  );
  err(io, `added client "${id}" to ${path}`);
  await emitClientConfig(io, clientConfigFor(config, id), o.output, o.force === true);
  return EXIT.ok;
}
