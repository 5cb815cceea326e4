import { request, type CallOptions } from '../../client/client.js';
import type { ClientConfig } from '../../config/client-config.js';
import { errorMessage, isPsimbolsError, PsimbolsError } from '../../errors.js';
import { isName, isObject } from '../../protocol/messages.js';
import { EXIT, exitCodeFor } from '../exit-codes.js';
import { out, type Io } from '../io.js';

// `call --batch FILE|-`: one JSON object per input line, {"module", "function", "params"?, "id"?},
// sent over keep-alive connections, at most `concurrency` at a time, each sealed afresh. One JSON
// line out per line in, in input order, as soon as every line before it is done. Exit 0 when every
// line succeeded, else the exit code of the first line that failed.

type Line = { readonly id?: unknown; readonly module: string; readonly fn: string; readonly params: Record<string, unknown> };
type Outcome = { readonly line: Record<string, unknown>; readonly exit: number };

export type BatchOptions = { readonly server?: string; readonly timeoutMs: number; readonly retry: number; readonly concurrency: number; readonly maxResponseBytes: number; readonly trust: Pick<CallOptions, 'ca' | 'moreCa'>; readonly onClockSkew?: (offsetSeconds: number) => void };

function parseLine(text: string, n: number): Line {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PsimbolsError('usage', `line ${n}: not JSON`);
  }
  if (!isObject(value)) throw new PsimbolsError('usage', `line ${n}: not a JSON object`);
  const { module, function: fn, params = {}, id } = value;
  if (typeof module !== 'string' || !isName(module)) throw new PsimbolsError('usage', `line ${n}: "module" must be a module name`);
  if (typeof fn !== 'string' || !isName(fn)) throw new PsimbolsError('usage', `line ${n}: "function" must be a function name`);
  if (!isObject(params)) throw new PsimbolsError('usage', `line ${n}: "params" must be a JSON object`);
  return { id, module, fn, params };
}

const failure = (id: unknown, code: string, message: string, exit: number, retryAfter?: number): Outcome => ({
  line: { ...(id === undefined ? {} : { id }), ok: false, error: { code, message, ...(retryAfter === undefined ? {} : { retry_after: retryAfter }) } },
  exit,
});

async function runLine(config: ClientConfig, text: string, n: number, o: BatchOptions): Promise<Outcome> {
  let line: Line;
  try {
    line = parseLine(text, n);
  } catch (e) {
    return failure(undefined, 'usage', isPsimbolsError(e) ? e.message : String(e), EXIT.usage);
  }
  const idPart = line.id === undefined ? {} : { id: line.id };
  try {
    const r = await request(config, line.module, line.fn, line.params, { ...o.trust, endpoint: o.server, timeoutMs: o.timeoutMs, retry: o.retry, maxResponseBytes: o.maxResponseBytes, onClockSkew: o.onClockSkew });
    if ('error' in r) return failure(line.id, r.error.code, r.error.message, EXIT.functionError);
    return { line: { ...idPart, ok: true, value: r.return.value, ...(r.return.comment === undefined ? {} : { comment: r.return.comment }) }, exit: EXIT.ok };
  } catch (e) {
    // Whatever goes wrong with one line is that line's answer: the others, already spent against
    // the quota, are printed all the same. A line too deep to seal is the line's own fault.
    if (isPsimbolsError(e)) return failure(line.id, e.code, e.message, exitCodeFor(e.code), e.retryAfter);
    if (e instanceof RangeError) return failure(line.id, 'usage', `line ${n}: its params cannot be sent (${e.message})`, EXIT.usage);
    return failure(line.id, 'internal_error', `line ${n}: ${errorMessage(e)}`, EXIT.other);
  }
}

export async function runBatch(io: Io, config: ClientConfig, input: string, o: BatchOptions): Promise<number> {
  const lines = input.split('\n').map((text, i) => ({ text: text.trim(), n: i + 1 })).filter((l) => l.text !== '');
  const results: (Outcome | undefined)[] = new Array(lines.length);
  let printed = 0;
  let next = 0;
  const flush = (): void => {
    for (let r = results[printed]; r !== undefined; r = results[printed]) {
      out(io, JSON.stringify(r.line));
      printed++;
    }
  };
  // Once stdout's reader is gone (`| head -1`), no more lines are sent, as `yes | head` stops:
  // each would be counted against the quota for an answer nobody reads.
  let readerGone = false;
  io.stdout.once('error', () => void (readerGone = true));
  const worker = async (): Promise<void> => {
    for (let i = next++; i < lines.length && !readerGone; i = next++) {
      const l = lines[i]!;
      results[i] = await runLine(config, l.text, l.n, o);
      flush();
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, Math.max(1, lines.length)) }, worker));
  return results.find((r) => r !== undefined && r.exit !== EXIT.ok)?.exit ?? EXIT.ok;
}
