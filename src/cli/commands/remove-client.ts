import { removeClient } from '../../config/edits.js';
import { updateServerConfig } from '../../config/store.js';
import { requireArg, serverPath } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { err, type GlobalOptions, type Io } from '../io.js';

export async function run(io: Io, g: GlobalOptions, idArg: string | undefined, o: { readonly config?: string }): Promise<number> {
  const id = await requireArg(io, g, idArg, 'id', 'Client id to remove');
  const path = serverPath(io, g, o.config);
  await updateServerConfig(path, (c) => removeClient(c, id));
  err(io, `removed client "${id}" from ${path}`);
  return EXIT.ok;
}
