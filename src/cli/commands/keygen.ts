import { resolve } from 'node:path';
import { writeFileAtomic } from '../../config/store.js';
import { generateKeySpec, kidHexOf } from '../../protocol/keys.js';
import { EXIT } from '../exit-codes.js';
import { err, out, type GlobalOptions, type Io } from '../io.js';

type Options = { readonly output?: string; readonly force?: boolean };

export async function run(io: Io, _g: GlobalOptions, o: Options): Promise<number> {
  const key = generateKeySpec();
  if (o.output && o.output !== '-') await writeFileAtomic(resolve(o.output), `${key.data}\n`, o.force === true);
  else out(io, key.data);
  // The key id lets both ends compare keys without showing them.
  err(io, `kid ${kidHexOf(key)}`);
  return EXIT.ok;
}
