import { clientEntry, removeClient } from '../../config/edits.js';
import { loadServerConfig, updateServerConfig } from '../../config/store.js';
import { PsimbolsError } from '../../errors.js';
import { requireArg, serverPath } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { canPrompt, err, type GlobalOptions, type Io } from '../io.js';

type Options = { readonly config?: string; readonly yes?: boolean };

export async function run(io: Io, g: GlobalOptions, idArg: string | undefined, o: Options): Promise<number> {
  const id = await requireArg(io, g, idArg, 'id', 'Client id to remove');
  const path = serverPath(io, g, o.config);
  // A person at a terminal confirms. Without one nobody can, so --yes must say it, as gh does.
  if (!o.yes && !canPrompt(io, g)) throw new PsimbolsError('usage', `removing client "${id}" needs --yes when nobody is at a terminal to confirm: psimbols remove-client ${id} --yes`);
  if (!o.yes) {
    if (!clientEntry(await loadServerConfig(path), id)) throw new PsimbolsError('client_not_found', `no client "${id}" in the server config`);
    const { askToConfirm } = await import('../prompts.js');
    if (!(await askToConfirm(io, `Remove client "${id}"? Its requests are refused at once.`))) throw new PsimbolsError('usage', 'cancelled: nothing was removed');
  }
  await updateServerConfig(path, (c) => removeClient(c, id));
  err(io, `removed client "${id}" from ${path}`);
  return EXIT.ok;
}
