// Remembers accepted (client, nonce) pairs for as long as their timestamps could still be accepted.

export interface ReplayStore {
  /** Records the key; true when it was already recorded (a replay). */
  seen(key: string, ttlMs: number): boolean;
  /** Unix seconds: tokens stamped earlier are refused, because this store may have forgotten them. */
  readonly acceptsFrom: number | undefined;
}

export class MemoryReplayStore implements ReplayStore {
  readonly #expiries = new Map<string, number>();
  readonly #now: () => number;
  // A memory store forgets on restart, so tokens from before the start could be replayed.
  readonly acceptsFrom: number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
    this.acceptsFrom = Math.floor(now() / 1000);
  }

  seen(key: string, ttlMs: number): boolean {
    const now = this.#now();
    const expiry = this.#expiries.get(key);
    if (expiry !== undefined && expiry > now) return true;
    this.#expiries.set(key, now + ttlMs);
    return false;
  }

  sweep(): void {
    const now = this.#now();
    for (const [key, expiry] of this.#expiries) if (expiry <= now) this.#expiries.delete(key);
  }

  get size(): number {
    return this.#expiries.size;
  }
}
