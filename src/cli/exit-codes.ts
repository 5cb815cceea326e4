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
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'remote_error':
      return EXIT.functionError;
    case 'usage':
    case 'config_invalid':
    case 'config_missing':
    case 'client_exists':
    case 'client_not_found':
    case 'file_exists':
    case 'io':
      return EXIT.usage;
    case 'network':
    case 'request_timeout':
      return EXIT.network;
    case 'unauthorized':
      return EXIT.unauthorized;
    case 'rate_limited':
      return EXIT.rateLimited;
    default:
      return EXIT.other;
  }
}
