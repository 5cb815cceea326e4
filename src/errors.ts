import type { RefusalReason } from './protocol/result.js';

/**
 * Every error psimbols raises on purpose, by stable string code. The HTTP handler decides the
 * statuses a server answers with; the CLI maps every code to an exit code (cli/exit-codes.ts).
 * Why a request was refused is a `RefusalReason` (protocol/result.ts), and a function's own
 * error travels inside a 200 with a `FunctionErrorCode` (server/registry.ts).
 */
export const ERROR_CODES = [
  // a server's shared store (Redis) cannot decide; the handler answers 503
  'store_unavailable',
  // configuration and usage
  'usage',
  'config_invalid',
  'config_missing',
  'client_exists',
  'client_not_found',
  'file_exists',
  'io',
  // seen by a client
  'unauthorized',
  'rate_limited',
  'unavailable',
  'network',
  'request_timeout',
  'bad_response',
  // an https server whose certificate does not verify
  'untrusted_server',
  'http_error',
  'remote_error',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const isErrorCode = (v: unknown): v is ErrorCode => typeof v === 'string' && ERROR_CODES.some((c) => c === v);

type PsimbolsErrorOptions = {
  readonly cause?: unknown;
  readonly reason?: RefusalReason;
  /** Seconds until a retry can succeed (rate limits, a 503). */
  readonly retryAfter?: number;
  /** The HTTP status a client saw, when there was one. */
  readonly status?: number;
  /** A function-level error code sent by the server. */
  readonly remoteCode?: string;
  /** The server's clock (Unix seconds), from its sealed answer to a request stamped outside its window. */
  readonly serverTime?: number;
};

/**
 * The one error type of psimbols: a stable `code`, a human message and optional detail.
 *
 * @example
 * try { await client.call('supermath', 'factorial', { n: 3 }); }
 * catch (e) { if (e instanceof PsimbolsError && e.code === 'rate_limited') console.log(e.retryAfter); }
 */
export class PsimbolsError extends Error {
  override readonly name = 'PsimbolsError';
  readonly code: ErrorCode;
  readonly reason: RefusalReason | undefined;
  readonly retryAfter: number | undefined;
  readonly status: number | undefined;
  readonly remoteCode: string | undefined;
  readonly serverTime: number | undefined;

  constructor(code: ErrorCode, message: string, options: PsimbolsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reason = options.reason;
    this.retryAfter = options.retryAfter;
    this.status = options.status;
    this.remoteCode = options.remoteCode;
    this.serverTime = options.serverTime;
  }
}

/** True for a PsimbolsError, optionally of one code. */
export const isPsimbolsError = (e: unknown, code?: ErrorCode): e is PsimbolsError => e instanceof PsimbolsError && (code === undefined || e.code === code);

/** The message of anything thrown, for logs and one-line errors. */
export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** The errno code (`ENOENT`, `EADDRINUSE`, …) of a failed system call, if it is one. */
export const errnoCode = (e: unknown): string | undefined =>
  typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;

const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  EISDIR: 'it is a directory',
  ENOSPC: 'no space left on the device',
  EMFILE: 'too many open files',
};

/** A failed file operation in words, with its errno code: "the file system is read-only (EROFS)". */
export function fileProblem(e: unknown): string {
  const code = errnoCode(e);
  if (code === undefined) return errorMessage(e);
  const words = ERRNO_WORDS[code];
  return words === undefined ? code : `${words} (${code})`;
}
