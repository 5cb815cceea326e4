import { resolve } from 'node:path';
import { writeFileAtomic } from '../../config/store.js';
import { generateKeySpec, kidHexOf } from '../../protocol/keys.js';
import { EXIT } from '../exit-codes.js';
import { err, out, type GlobalOptions, type Io } from '../io.js';

type Options = { output?: string; force?: boolean };

export async function run(io: Io, _g: GlobalOptions, args: readonly unknown[]): Promise<number> {
  const o = args[0] as Options;
  const key = generateKeySpec();
  if (o.output) await writeFileAtomic(resolve(o.output), `${key.data}\n`, o.force === true);
  else out(io, key.data);
  // The key id lets both ends compare keys without showing them.
  err(io, `kid ${kidHexOf(key)}`);
  return EXIT.ok;
}
