import { request, sealCall } from '../../client/client.js';
import { PsimbolsError } from '../../errors.js';
import { isObject } from '../../protocol/messages.js';
import { checkCallNames, clientConfig, refusedHint } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { err, out, printError, printJson, type GlobalOptions, type Io } from '../io.js';
import { inputReader, type ReadInput } from '../inputs.js';
import { trustOptions } from '../trust.js';
import { literal, paramsFromItems, parseItem } from '../items.js';

type Options = {
  readonly clientConfig?: string;
  readonly server?: string;
  readonly params?: string;
  readonly json?: boolean;
  readonly offline?: boolean;
  readonly verbose?: boolean;
  readonly timeout: number;
  readonly retry: number;
  readonly maxResponseBytes: number;
  readonly cacert?: string;
  readonly batch?: string;
  readonly concurrency: number;
};

/** --params JSON, --params @FILE, or --params - for standard input. */
async function baseParams(read: ReadInput, value: string | undefined): Promise<Record<string, unknown>> {
  if (value === undefined) return {};
  const text = value === '-' ? await read('-', '--params') : value.startsWith('@') ? await read(value.slice(1), '--params') : value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new PsimbolsError('usage', `--params: not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(parsed)) throw new PsimbolsError('usage', '--params must be a JSON object');
  return parsed;
}

/** `s=123` sends a number; when the function wanted a string, say how to send one. */
function stringHint(items: readonly string[], error: { code: string; message: string }): string {
  const key = /^([A-Za-z_][A-Za-z0-9_]*): .*expected string/.exec(error.message)?.[1];
  if (error.code !== 'invalid_params' || key === undefined) return '';
  const item = items.map(parseItem).find((i) => i.key === key && !i.json && !i.file);
  if (item === undefined || typeof literal(item.text) === 'string') return '';
  return ` (to send ${item.text} as a string, write ${key}:='${JSON.stringify(item.text)}')`;
}

const skewNote = (io: Io) => (offset: number): void =>
  err(io, `psimbols: this machine's clock is ${Math.abs(offset)} s ${offset > 0 ? 'behind' : 'ahead of'} the server's; sealing with the server's time for the rest of this run`);

/** Strings print raw; everything else as JSON, so `x=$(psimbols call ...)` gets just the value. */
const formatValue = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value) ?? 'null');

export async function run(io: Io, g: GlobalOptions, moduleArg: string | undefined, fnArg: string | undefined, items: string[], o: Options): Promise<number> {
  const read = inputReader(io);
  if (o.batch !== undefined) {
    if (moduleArg !== undefined || o.params !== undefined || o.offline) throw new PsimbolsError('usage', '--batch takes its calls from its input: no MODULE FUNCTION, --params or --offline');
    const input = await read(o.batch, '--batch');
    const config = await clientConfig(io, g, o.clientConfig);
    const { runBatch } = await import('./call-batch.js');
    const trust = await trustOptions(io.env, o.cacert);
    return runBatch(io, config, input, { server: o.server, timeoutMs: Math.round(o.timeout * 1000), retry: o.retry, concurrency: o.concurrency, maxResponseBytes: o.maxResponseBytes, trust, onClockSkew: o.verbose ? skewNote(io) : undefined });
  }
  if (moduleArg === undefined || fnArg === undefined) throw new PsimbolsError('usage', 'name the module and the function: psimbols call MODULE FUNCTION [ITEM...] (or --batch FILE)');
  const module = moduleArg;
  const fn = fnArg;
  checkCallNames(module, fn);
  const params = await paramsFromItems(items, read, await baseParams(read, o.params));
  const config = await clientConfig(io, g, o.clientConfig);

  if (o.offline) {
    out(io, JSON.stringify(sealCall(config, module, fn, params).outer));
    return EXIT.ok;
  }
  const response = await request(config, module, fn, params, {
    ...(await trustOptions(io.env, o.cacert)),
    timeoutMs: Math.round(o.timeout * 1000),
    retry: o.retry,
    maxResponseBytes: o.maxResponseBytes,
    onClockSkew: o.verbose ? skewNote(io) : undefined,
    onRetry: o.verbose ? (attempt, delayMs, reason) => err(io, `psimbols: attempt ${attempt} failed (${reason.message}); retrying in ${(delayMs / 1000).toFixed(1)} s`) : undefined,
    endpoint: o.server,
  }).catch((e: unknown) => Promise.reject(refusedHint(e, io, g, o.clientConfig, o.server)));
  if (o.json) await printJson(io, g, response);
  if ('error' in response) {
    await printError(io, g, `${module}.${fn}: ${response.error.code}: ${response.error.message}${stringHint(items, response.error)}`);
    return EXIT.functionError;
  }
  if (!o.json) out(io, formatValue(response.return.value));
  if (o.verbose && response.return.comment !== undefined) err(io, response.return.comment);
  return EXIT.ok;
}
