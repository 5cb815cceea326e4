import { hostBlock } from '../../config/addresses.js';

// Per-IP count of failed authentications in fixed windows, to blunt probing. An address's
// expired window is dropped when that address is next seen, and memory is bounded without a
// sweep: past `maxEntries` addresses the oldest entry is dropped (a Map iterates in insertion
// order).

/** Counts a failed authentication against a key; answers how long the key was already blocked (0: not). */
export interface FailureCounter {
  record(key: string): Promise<number>;
}

type FailureLimiterOptions = { readonly limit: number; readonly windowMs: number; readonly maxEntries?: number };

type Bucket = { count: number; start: number };

export class FailureLimiter implements FailureCounter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #options: Required<FailureLimiterOptions>;
  readonly #now: () => number;

  constructor(options: FailureLimiterOptions, now: () => number = Date.now) {
    this.#options = { maxEntries: 10_000, ...options };
    this.#now = now;
  }

  /** Milliseconds until this address may try again, or 0 when it is not blocked. */
  blockedMs(ip: string): number {
    const b = this.#buckets.get(ip);
    if (b === undefined || b.count < this.#options.limit) return 0;
    const left = b.start + this.#options.windowMs - this.#now();
    if (left <= 0) {
      this.#buckets.delete(ip);
      return 0;
    }
    return left;
  }

  async record(ip: string): Promise<number> {
    const blocked = this.blockedMs(ip);
    this.fail(ip);
    return blocked;
  }

  fail(ip: string): void {
    const now = this.#now();
    const b = this.#buckets.get(ip);
    if (b !== undefined && now - b.start < this.#options.windowMs) {
      b.count++;
      return;
    }
    if (b !== undefined) this.#buckets.delete(ip);
    else if (this.#buckets.size >= this.#options.maxEntries) {
      const oldest = this.#buckets.keys().next();
      if (!oldest.done) this.#buckets.delete(oldest.value);
    }
    this.#buckets.set(ip, { count: 1, start: now });
  }

  get size(): number {
    return this.#buckets.size;
  }
}

/** Failures are counted per IPv4 address and per IPv6 /64 (config/addresses.ts, hostBlock). */
export const failureKey = hostBlock;
