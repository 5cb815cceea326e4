import type { Window } from '../../protocol/envelope.js';
import { MemoryRateLimiter } from './rate-limiter.js';
import { MemoryReplayStore } from './replay-store.js';

// The replay check and the rate limit, decided together so that a shared store can do both in
// one round trip. The nonce of a refused request is recorded too when a slot frees before the
// token goes stale: otherwise it would become replayable once quota frees up. A client that
// keeps hammering while limited would make that unbounded, so the memory store keeps at most
// min(limit, REFUSED_NONCES) refused nonces per client beyond its accepted ones.

export type AdmissionRequest = {
  readonly client: string;
  readonly nonceKey: string;
  readonly nonceTtlMs: number;
  readonly limit: number;
  readonly windowMs: number;
  /** The token's timestamp in Unix seconds (ps2 only). */
  readonly ts?: number;
  /** The timestamp window, for a store that judges freshness by its own clock (Redis). */
  readonly window?: Window;
};

/** Refusals only a store can see: a replay, or (by a shared store's clock) a stale or future token. */
export type Refusal = 'replayed' | 'stale' | 'future';

export type Admission =
  | { readonly kind: Refusal }
  /** Stamped before the store lost what it knew of the client: it cannot be checked (a 503). */
  | { readonly kind: 'forgotten' }
  | { readonly kind: 'allowed' | 'limited'; readonly limit: number; readonly remaining: number; readonly resetMs: number };

export type StoreHealth = { readonly store: string; readonly reachable: boolean };

export interface AdmissionStore {
  /** Unix seconds: tokens stamped earlier are refused, because the store may have forgotten them. */
  readonly acceptsFrom: number | undefined;
  /** Called at start and on every reload, before the new clients and window are served. */
  prepare(clients: readonly string[], window: Window): Promise<void>;
  /** Synchronous when the store decides at once (memory); a shared store answers later. */
  admit(request: AdmissionRequest): Admission | Promise<Admission>;
  health(): StoreHealth;
  close(): Promise<void>;
}

const REPLAYED: Admission = { kind: 'replayed' };
// A sweep of the replay store goes in slices of this many entries, one slice per tick.
const SWEEP_SLICE = 10_000;
const SWEEP_TICK_MS = 100;
export const REFUSED_NONCES = 1000;
const SWEEP_MS = 30_000;

export class MemoryAdmissionStore implements AdmissionStore {
  readonly limiter: MemoryRateLimiter;
  readonly replay: MemoryReplayStore;
  readonly #timer: NodeJS.Timeout | undefined;

  #slice: NodeJS.Timeout | undefined;
  readonly #now: () => number;
  #window: Window | undefined;
  // A memory store forgets on restart, so tokens stamped before its start are refused.
  #acceptsFrom: number;

  /** `sweepMs`: how often a sweep of expired entries starts (default 30 s); `sweep: false` for none (tests). */
  constructor(options: { now?: () => number; sweep?: boolean; sweepMs?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.limiter = new MemoryRateLimiter(this.#now);
    this.replay = new MemoryReplayStore(this.#now);
    this.#acceptsFrom = Math.floor(this.#now() / 1000);
    if (options.sweep !== false) {
      this.#timer = setInterval(() => this.#startSweep(), options.sweepMs ?? SWEEP_MS);
      this.#timer.unref();
    }
  }

  #startSweep(): void {
    this.limiter.sweep();
    if (this.#slice !== undefined) return;
    const step = (): void => {
      this.#slice = this.replay.sweep(SWEEP_SLICE) ? undefined : setTimeout(step, SWEEP_TICK_MS).unref();
    };
    step();
  }

  get acceptsFrom(): number {
    return this.#acceptsFrom;
  }

  /**
   * A wider window must not readmit what was forgotten under the narrower one: nonces still held
   * are kept the longer time, and tokens whose nonces may already be gone (stamped before now
   * less the old window) are refused from now on.
   */
  async prepare(_clients: readonly string[], window: Window): Promise<void> {
    const old = this.#window;
    this.#window = window;
    if (old === undefined || window.pastSeconds <= old.pastSeconds) return;
    this.#acceptsFrom = Math.max(this.#acceptsFrom, Math.floor(this.#now() / 1000) - old.pastSeconds - 1);
    this.replay.extend((window.pastSeconds - old.pastSeconds) * 1000);
  }

  admitNow(r: AdmissionRequest): Admission {
    if (this.replay.has(r.client, r.nonceKey)) return REPLAYED;
    const d = this.limiter.take(r.client, r.limit, r.windowMs);
    // Accepted nonces within their lifetime (at most an hour) never exceed the limit.
    const replayable = d.resetMs < r.nonceTtlMs;
    if (d.allowed || (replayable && this.replay.countFor(r.client) < r.limit + Math.min(r.limit, REFUSED_NONCES))) {
      this.replay.add(r.client, r.nonceKey, r.nonceTtlMs);
    }
    return { kind: d.allowed ? 'allowed' : 'limited', limit: d.limit, remaining: d.remaining, resetMs: d.resetMs };
  }

  admit(r: AdmissionRequest): Admission {
    return this.admitNow(r);
  }

  health(): StoreHealth {
    return { store: 'memory', reachable: true };
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    clearTimeout(this.#slice);
  }
}
