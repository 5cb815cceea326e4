import type { ErrorCode } from '../errors.js';

/** Exit codes are part of the interface scripts rely on (README, "Exit codes"). */
export const EXIT = {
  ok: 0,
  functionError: 1,
  usage: 2,
  network: 3,
  unauthorized: 4,
  rateLimited: 5,
  other: 6,
  /** 128 + SIGPIPE: stdout's reader went away. */
  brokenPipe: 141,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

// A Record, not a switch with a default: a new error code does not compile until it has an exit code.
const EXIT_FOR: Readonly<Record<ErrorCode, ExitCode>> = {
  remote_error: EXIT.functionError,
  usage: EXIT.usage,
  config_invalid: EXIT.usage,
  config_missing: EXIT.usage,
  client_exists: EXIT.usage,
  client_not_found: EXIT.usage,
  file_exists: EXIT.usage,
  io: EXIT.usage,
  // Worth retrying later: no answer, or a server that said it cannot decide now (503).
  network: EXIT.network,
  request_timeout: EXIT.network,
  unavailable: EXIT.network,
  unauthorized: EXIT.unauthorized,
  rate_limited: EXIT.rateLimited,
  bad_response: EXIT.other,
  // Retrying cannot help: a CA to name, a certificate to renew, a URL to correct.
  untrusted_server: EXIT.other,
  http_error: EXIT.other,
  store_unavailable: EXIT.other,
};

export const exitCodeFor = (code: ErrorCode): ExitCode => EXIT_FOR[code];
