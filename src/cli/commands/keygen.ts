import { resolve } from 'node:path';
import { writeFileAtomic } from '../../config/store.js';
import { generateKeySpec, kidHexOf } from '../../protocol/keys.js';
import { PsimbolsError } from '../../errors.js';
import { readKeyFile } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { inputReader } from '../inputs.js';
import { err, out, type GlobalOptions, type Io } from '../io.js';

type Options = { readonly output?: string; readonly force?: boolean; readonly id?: string };

export async function run(io: Io, _g: GlobalOptions, o: Options): Promise<number> {
  // --id FILE: the key id of a key that exists, as wg pubkey and age-keygen -y do; - is stdin.
  if (o.id !== undefined) {
    if (o.output !== undefined) throw new PsimbolsError('usage', '--id reads a key, -o writes a new one: give one of them');
    out(io, kidHexOf(await readKeyFile(inputReader(io), o.id)));
    return EXIT.ok;
  }
  const key = generateKeySpec();
  if (o.output && o.output !== '-') await writeFileAtomic(resolve(o.output), `${key.data}\n`, o.force === true);
  else out(io, key.data);
  // The key id lets both ends compare keys without showing them.
  err(io, `kid ${kidHexOf(key)}`);
  return EXIT.ok;
}
