/**
 * Every error psimbols raises on purpose, by stable string code. The HTTP handler maps codes to
 * statuses and the CLI maps them to exit codes; nothing else decides either.
 */
export type ErrorCode =
  // refused by a server
  | 'unauthorized'
  | 'rate_limited'
  // a server's shared store (Redis) cannot decide; the handler answers 503
  | 'store_unavailable'
  // configuration and usage
  | 'usage'
  | 'config_invalid'
  | 'config_missing'
  | 'client_exists'
  | 'client_not_found'
  | 'file_exists'
  | 'io'
  // seen by a client
  | 'network'
  | 'request_timeout'
  | 'bad_response'
  | 'http_error'
  | 'remote_error';

/**
 * Codes of function-level errors, sent encrypted inside a 200 (docs/PROTOCOL.md, "Plaintexts").
 * A client sees them as `remote_error` with the code in `remoteCode`; modules may add their own.
 */
export type FunctionErrorCode = 'unknown_module' | 'unknown_function' | 'invalid_params' | 'forbidden' | 'function_failed' | 'timeout' | 'busy' | 'rate_limited';

/** Why an authentication failed. Never sent to a peer: the server logs it and answers 401. */
export type RefusalReason =
  | 'unknown_client'
  | 'malformed_token'
  | 'bad_version'
  | 'bad_kind'
  | 'bad_length'
  | 'unknown_key'
  | 'bad_tag'
  | 'stale'
  | 'future'
  | 'before_start'
  | 'replayed'
  | 'server_mismatch'
  | 'bad_plaintext'
  | 'legacy_refused';

export type PsimbolsErrorOptions = {
  readonly cause?: unknown;
  readonly reason?: RefusalReason;
  /** Seconds until a retry can succeed (rate limits). */
  readonly retryAfter?: number;
  /** The HTTP status a client saw, when there was one. */
  readonly status?: number;
  /** A function-level error code sent by the server. */
  readonly remoteCode?: string;
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

  constructor(code: ErrorCode, message: string, options: PsimbolsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reason = options.reason;
    this.retryAfter = options.retryAfter;
    this.status = options.status;
    this.remoteCode = options.remoteCode;
  }
}

export const isPsimbolsError = (e: unknown): e is PsimbolsError => e instanceof PsimbolsError;
