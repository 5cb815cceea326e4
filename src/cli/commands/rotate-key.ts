import { clientEntry, finishRotation, rotateKey } from '../../config/edits.js';
import { updateServerConfig } from '../../config/store.js';
import { PsimbolsError } from '../../errors.js';
import { generateKeySpec, kidHexOf } from '../../protocol/keys.js';
import { editAndHandOver } from '../client-output.js';
import { readKeyFile, requireArg, serverPath } from '../common.js';
import { inputReader } from '../inputs.js';
import { EXIT } from '../exit-codes.js';
import { err, type GlobalOptions, type Io } from '../io.js';

type Options = { readonly config?: string; readonly keyFile?: string; readonly retireOld?: boolean; readonly finish?: boolean; readonly output?: string; readonly force?: boolean };

export async function run(io: Io, g: GlobalOptions, idArg: string | undefined, o: Options): Promise<number> {
  if (o.finish && (o.keyFile || o.retireOld || o.output)) throw new PsimbolsError('usage', '--finish takes no other option: it only retires the old keys');
  const id = await requireArg(io, g, idArg, 'id', 'Client id');
  const path = serverPath(io, g, o.config);
  if (o.finish) {
    const config = await updateServerConfig(path, (c) => finishRotation(c, id));
    err(io, `client "${id}" now accepts only its newest key (${clientEntry(config, id)?.keys.length ?? 0} key)`);
    return EXIT.ok;
  }
  const key = o.keyFile ? await readKeyFile(inputReader(io), o.keyFile) : generateKeySpec();
  const { config } = await editAndHandOver(io, { path, id, edit: (c) => rotateKey(c, id, key, o.retireOld === true), output: o.output === '-' ? undefined : o.output, force: o.force === true });
  const accepted = clientEntry(config, id)?.keys.length ?? 1;
  const wasLegacy = clientEntry(config, id)?.keys.some((k) => k.mode === 'CBC') === true;
  err(io, `client "${id}" has a new key ${kidHexOf(key)}; ${accepted > 1 ? `the old one${wasLegacy ? ', its legacy CBC key,' : ''} stays accepted until "psimbols rotate-key ${id} --finish"` : 'no other key is accepted'}`);
  return EXIT.ok;
}
