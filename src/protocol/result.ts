import type { RefusalReason } from '../errors.js';

/** An expected outcome: a value, or the reason a message was refused. */
export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: RefusalReason };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const refuse = <T = never>(reason: RefusalReason): Result<T> => ({ ok: false, reason });
