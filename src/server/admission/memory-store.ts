import type { Window } from '../../protocol/envelope.js';
import { REFUSED_NONCES, type Admission, type AdmissionRequest, type AdmissionStore, type StoreHealth } from './admission.js';
import { MemoryRateLimiter } from './rate-limiter.js';
import { MemoryReplayStore } from './replay-store.js';

// The rules of admission.ts in this process's memory: exact, and forgotten on restart (R4: tokens
// stamped before the store started are answered 'before_start', a 503).

const REPLAYED: Admission = { kind: 'replayed' };
const BEFORE_START: Admission = { kind: 'before_start' };
// A sweep of the replay store goes in slices of this many entries, one slice per tick.
const SWEEP_SLICE = 10_000;
const SWEEP_TICK_MS = 100;
const SWEEP_MS = 30_000;

type MemoryStoreOptions = {
  now?: () => number;
  /** False for no sweep timer (tests). */
  sweep?: boolean;
  /** How often a sweep of expired entries starts (default 30 s). */
  sweepMs?: number;
  /** Unix seconds from which tokens are accepted (R4); default: when the store is made. */
  remembersFrom?: number;
};

/** Sweeps a replay store in slices, and a limiter, on a timer. */
class Sweeper {
  readonly #timer: NodeJS.Timeout;
  #slice: NodeJS.Timeout | undefined;

  constructor(replay: MemoryReplayStore, limiter: MemoryRateLimiter | undefined, everyMs: number, also?: () => void) {
    const step = (): void => {
      this.#slice = replay.sweep(SWEEP_SLICE) ? undefined : setTimeout(step, SWEEP_TICK_MS).unref();
    };
    this.#timer = setInterval(() => {
      limiter?.sweep();
      also?.();
      if (this.#slice === undefined) step();
    }, everyMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    clearTimeout(this.#slice);
  }
}

export class MemoryAdmissionStore implements AdmissionStore {
  readonly limiter: MemoryRateLimiter;
  readonly replay: MemoryReplayStore;
  readonly #sweeper: Sweeper | undefined;
  readonly #now: () => number;
  #window: Window | undefined;
  #remembersFrom: number;
  /** R3 past the cap: per client, the newest stamp refused and not held, and until when it matters. */
  readonly #refusedUpTo = new Map<string, { ts: number; until: number }>();

  constructor(options: MemoryStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.limiter = new MemoryRateLimiter(this.#now);
    this.replay = new MemoryReplayStore(this.#now);
    this.#remembersFrom = options.remembersFrom ?? Math.floor(this.#now() / 1000);
    if (options.sweep !== false) this.#sweeper = new Sweeper(this.replay, this.limiter, options.sweepMs ?? SWEEP_MS, () => this.#sweepRefused());
  }

  /** Unix seconds: tokens stamped earlier are not accepted (a 503), because this store may have forgotten them. */
  get remembersFrom(): number {
    return this.#remembersFrom;
  }

  /**
   * A wider window must not readmit what was forgotten under the narrower one: nonces still held
   * are kept the longer time, and tokens whose nonces may already be gone (stamped before now
   * less the old window) are not accepted from now on.
   */
  async prepare(_clients: readonly string[], window: Window): Promise<void> {
    const old = this.#window;
    this.#window = window;
    if (old === undefined || window.pastSeconds <= old.pastSeconds) return;
    this.#remembersFrom = Math.max(this.#remembersFrom, Math.floor(this.#now() / 1000) - old.pastSeconds - 1);
    this.replay.extend((window.pastSeconds - old.pastSeconds) * 1000);
  }

  async admit(r: AdmissionRequest): Promise<Admission> {
    if (r.ts !== undefined && r.ts < this.#remembersFrom) return BEFORE_START;
    if (this.replay.has(r.client, r.nonceKey)) return REPLAYED;
    const forgotten = this.#refusedUpTo.get(r.client);
    if (r.ts !== undefined && forgotten !== undefined && r.ts <= forgotten.ts) return this.#untilPast(r, forgotten.ts);
    const d = this.limiter.take(r.client, r.limit, r.windowMs);
    // R3. Allowed nonces within their lifetime (at most an hour) never exceed the limit.
    const replayable = d.resetMs < r.nonceTtlMs;
    if (d.allowed || (replayable && this.replay.countFor(r.client) < r.limit + Math.min(r.limit, REFUSED_NONCES))) {
      this.replay.add(r.client, r.nonceKey, r.nonceTtlMs);
    } else if (replayable && r.ts !== undefined) {
      // Newer than any stamp kept (older ones were answered above), and kept as long as its token.
      this.#refusedUpTo.set(r.client, { ts: r.ts, until: this.#now() + r.nonceTtlMs });
    }
    return { kind: d.allowed ? 'allowed' : 'limited', limit: d.limit, remaining: d.remaining, resetMs: d.resetMs };
  }

  // R3 past the cap: refused until the stamp is past, with no quota spent.
  #untilPast(r: AdmissionRequest, ts: number): Admission {
    return { kind: 'limited', limit: r.limit, remaining: 0, resetMs: Math.max(1000, (ts + 1) * 1000 - this.#now()) };
  }

  #sweepRefused(): void {
    const now = this.#now();
    for (const [client, f] of this.#refusedUpTo) if (f.until <= now) this.#refusedUpTo.delete(client);
  }

  health(): StoreHealth {
    return { store: 'memory', reachable: true };
  }

  async close(): Promise<void> {
    this.#sweeper?.stop();
  }
}

/** Replays refused, nothing limited: what onStoreError=open serves while the shared store is down. */
export class UnlimitedAdmissionStore implements AdmissionStore {
  readonly #replay: MemoryReplayStore;
  readonly #sweeper: Sweeper;

  constructor(now: () => number = Date.now) {
    this.#replay = new MemoryReplayStore(now);
    this.#sweeper = new Sweeper(this.#replay, undefined, SWEEP_MS);
  }

  async prepare(): Promise<void> {}

  async admit(r: AdmissionRequest): Promise<Admission> {
    if (this.#replay.seen(r.client, r.nonceKey, r.nonceTtlMs)) return REPLAYED;
    return { kind: 'allowed', limit: r.limit, remaining: r.limit, resetMs: r.windowMs };
  }

  health(): StoreHealth {
    return { store: 'memory', reachable: true };
  }

  async close(): Promise<void> {
    this.#sweeper.stop();
  }
}
