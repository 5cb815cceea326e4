export const REFUSAL_REASONS = [
  'unknown_client',
  'malformed_token',
  'bad_version',
  'bad_kind',
  'bad_length',
  'unknown_key',
  'bad_tag',
  'stale',
  'future',
  'replayed',
  'server_mismatch',
  'bad_plaintext',
  'legacy_refused',
] as const;

/** Why a message was refused. Never sent to a peer: the server logs it and answers 401. */
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** An expected outcome: a value, or the reason a message was refused. */
export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: RefusalReason };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const refuse = <T = never>(reason: RefusalReason): Result<T> => ({ ok: false, reason });
