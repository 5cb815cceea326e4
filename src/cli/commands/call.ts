import { request, sealCall } from '../../client/client.js';
import { PsimbolsError } from '../../errors.js';
import { isObject } from '../../protocol/messages.js';
import { checkCallNames, clientConfig } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { err, out, printError, type GlobalOptions, type Io } from '../io.js';
import { paramsFromItems } from '../items.js';

type Options = {
  readonly clientConfig?: string;
  readonly server?: string;
  readonly params?: string;
  readonly json?: boolean;
  readonly offline?: boolean;
  readonly verbose?: boolean;
  readonly timeout: number;
  readonly retry: number;
};

async function readStdin(io: Io): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

async function baseParams(io: Io, value: string | undefined): Promise<Record<string, unknown>> {
  if (value === undefined) return {};
  const text = value === '-' ? await readStdin(io) : value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new PsimbolsError('usage', `--params: not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(parsed)) throw new PsimbolsError('usage', '--params must be a JSON object');
  return parsed;
}

/** Strings print raw; everything else as JSON, so `x=$(psimbols call ...)` gets just the value. */
const formatValue = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value) ?? 'null');

export async function run(io: Io, g: GlobalOptions, module: string, fn: string, items: string[], o: Options): Promise<number> {
  checkCallNames(module, fn);
  const params = await paramsFromItems(items, await baseParams(io, o.params));
  const config = await clientConfig(io, g, o.clientConfig);

  if (o.offline) {
    out(io, JSON.stringify(sealCall(config, module, fn, params).outer));
    return EXIT.ok;
  }
  const response = await request(config, module, fn, params, {
    timeoutMs: Math.round(o.timeout * 1000),
    retry: o.retry,
    onRetry: o.verbose ? (attempt, delayMs, reason) => err(io, `psimbols: attempt ${attempt} failed (${reason.message}); retrying in ${(delayMs / 1000).toFixed(1)} s`) : undefined,
    endpoint: o.server,
  });
  if (o.json) out(io, JSON.stringify(response));
  if ('error' in response) {
    await printError(io, g, `${module}.${fn}: ${response.error.code}: ${response.error.message}`);
    return EXIT.functionError;
  }
  if (!o.json) out(io, formatValue(response.return.value));
  if (o.verbose && response.return.comment !== undefined) err(io, response.return.comment);
  return EXIT.ok;
}
