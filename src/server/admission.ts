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
};

export type Admission =
  | { readonly kind: 'replayed' }
  | { readonly kind: 'allowed' | 'limited'; readonly limit: number; readonly remaining: number; readonly resetMs: number };

export type StoreHealth = { readonly store: string; readonly reachable: boolean };

export interface AdmissionStore {
  readonly acceptsFrom: number | undefined;
  admit(request: AdmissionRequest): Promise<Admission>;
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

  /** `sweepMs`: how often a sweep of expired entries starts (default 30 s); `sweep: false` for none (tests). */
  constructor(options: { now?: () => number; sweep?: boolean; sweepMs?: number } = {}) {
    this.limiter = new MemoryRateLimiter(options.now);
    this.replay = new MemoryReplayStore(options.now);
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
    return this.replay.acceptsFrom;
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

  admit(r: AdmissionRequest): Promise<Admission> {
    return Promise.resolve(this.admitNow(r));
  }

  health(): StoreHealth {
    return { store: 'memory', reachable: true };
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    clearTimeout(this.#slice);
  }
}
