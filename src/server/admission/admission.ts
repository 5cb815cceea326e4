// Admission: whether an authenticated request may run. The replay check and the rate limit are
// decided together, so that a shared store can do both in one round trip, and so are freshness
// and "the store forgot": what a store remembers, and from when, is for the store alone to say.
//
// The rules every store keeps (the memory store in TypeScript, Redis in Lua for one atomic round
// trip, a cluster worker through its primary). The store conformance suite
// (test/admission-store.test.ts) runs the same cases against each.
//
// R1 Replays. A nonce already held for the client is refused ('replayed') and costs no quota.
// R2 Limit. At most `limit` requests are allowed in any rolling `windowMs`; past that 'limited',
//    with the milliseconds until the oldest allowed one leaves the window.
// R3 Refused nonces. The nonce of an allowed request is held for its lifetime. The nonce of a
//    limited request is held too, but only when a slot frees before its token goes stale (else it
//    could never be accepted anyway), and only up to min(limit, REFUSED_NONCES) such nonces per
//    client beyond its allowed ones: otherwise a client hammering while limited would grow the
//    store without bound. Past that cap, the store keeps one number per client instead: the
//    newest stamp of a refused request it did not hold. A ps2 token stamped at or before it is
//    answered 'limited' (retry once the stamp is past), so no refused request is ever accepted
//    later; a fresh request is stamped later and is served. (A legacy token carries no stamp: its
//    refused nonces past the cap are the one gap, docs/SECURITY.md.)
// R4 Forgetting. A store that may have lost what it knew (a memory store restarted, a Redis that
//    lost its data or failed over) cannot vouch for tokens stamped before it: the memory store
//    answers 'before_start', a shared store 'forgotten'. Both are a 503, not a 401: the request
//    may be honest (a restart it waited through), and a retry sealed afresh passes. A shared
//    store also judges 'stale' and 'future' by its own clock, so that instances with skewed
//    clocks agree.

/** A request to admit, by name. Every transport encodes exactly these fields (codec.ts). */
export type AdmissionRequest = {
  readonly client: string;
  readonly nonceKey: string;
  readonly nonceTtlMs: number;
  readonly limit: number;
  readonly windowMs: number;
  /** The token's timestamp in Unix seconds; undefined for a legacy token, which carries none. */
  readonly ts: number | undefined;
  /** The timestamp window the server accepts, for a store that judges freshness by its own clock. */
  readonly pastSeconds: number;
  readonly futureSeconds: number;
};

/** Refusals only a store can see: a replay, or (by a shared store's clock) a stale or future one. */
export type Refusal = 'replayed' | 'stale' | 'future';

export type Admission =
  | { readonly kind: Refusal }
  /** Stamped before the store's memory began (a restart) or before a shared store lost what it knew of the client: it cannot be checked (a 503). */
  | { readonly kind: 'before_start' | 'forgotten' }
  | { readonly kind: 'allowed' | 'limited'; readonly limit: number; readonly remaining: number; readonly resetMs: number };

export type StoreHealth = { readonly store: string; readonly reachable: boolean };

/** Where admissions are decided: in this process's memory, in Redis, or in a cluster's primary. */
export interface AdmissionStore {
  /** Called at start and on every reload, before the new clients and window are served. */
  prepare(clients: readonly string[], window: { readonly pastSeconds: number; readonly futureSeconds: number }): Promise<void>;
  /** Rejects with a PsimbolsError 'store_unavailable' when the store cannot decide. */
  admit(request: AdmissionRequest): Promise<Admission>;
  health(): StoreHealth;
  close(): Promise<void>;
}

/** R3's cap on refused nonces held per client, beyond its allowed ones. */
export const REFUSED_NONCES = 1000;
