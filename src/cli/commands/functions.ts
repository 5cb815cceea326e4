import { call } from '../../client/client.js';
import { PsimbolsError } from '../../errors.js';
import { LIST_FUNCTIONS } from '../../protocol/messages.js';
import { clientConfig } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { out, printJson, type GlobalOptions, type Io } from '../io.js';

type Options = { readonly clientConfig?: string; readonly server?: string; readonly json?: boolean; readonly timeout: number };
type Listing = { module: string; function: string; description?: string; params?: { properties?: Record<string, unknown>; required?: string[] } };

export async function run(io: Io, g: GlobalOptions, o: Options): Promise<number> {
  const config = await clientConfig(io, g, o.clientConfig);
  const { value } = await call(config, LIST_FUNCTIONS.module, LIST_FUNCTIONS.function, {}, { timeoutMs: Math.round(o.timeout * 1000), endpoint: o.server });
  if (!Array.isArray(value)) throw new PsimbolsError('bad_response', 'the server sent a function list that is not a list');
  if (o.json) {
    await printJson(io, g, value);
    return EXIT.ok;
  }
  for (const f of value as Listing[]) {
    const props = f.params?.properties ?? {};
    const required = new Set(f.params?.required ?? []);
    const params = Object.keys(props).map((p) => (required.has(p) ? p : `[${p}]`)).join(' ');
    out(io, `${f.module}.${f.function}${params ? ` ${params}` : ''}${f.description ? `  - ${f.description}` : ''}`);
  }
  return EXIT.ok;
}
