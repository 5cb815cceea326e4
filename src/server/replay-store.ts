// Remembers accepted (client, nonce) pairs for at least as long as their timestamps could still
// be accepted. Expiries are kept in whole seconds, rounded up: small integers are stored inline
// by V8, where millisecond timestamps would allocate a number per entry, and a nonce kept up to
// a second longer costs nothing but memory.

export interface ReplayStore {
  /** Records the pair; true when it was already recorded (a replay). */
  seen(client: string, nonce: string, ttlMs: number): boolean;
  /** Unix seconds: tokens stamped earlier are refused, because this store may have forgotten them. */
  readonly acceptsFrom: number | undefined;
}

export class MemoryReplayStore implements ReplayStore {
  readonly #clients = new Map<string, Map<string, number>>();
  readonly #now: () => number;
  // A memory store forgets on restart, so tokens from before the start could be replayed.
  readonly acceptsFrom: number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
    this.acceptsFrom = Math.floor(now() / 1000);
  }

  seen(client: string, nonce: string, ttlMs: number): boolean {
    if (this.has(client, nonce)) return true;
    this.add(client, nonce, ttlMs);
    return false;
  }

  has(client: string, nonce: string): boolean {
    const expiry = this.#clients.get(client)?.get(nonce);
    return expiry !== undefined && expiry * 1000 > this.#now();
  }

  add(client: string, nonce: string, ttlMs: number): void {
    let nonces = this.#clients.get(client);
    if (nonces === undefined) {
      nonces = new Map();
      this.#clients.set(client, nonces);
    }
    nonces.set(nonce, Math.ceil((this.#now() + ttlMs) / 1000));
  }

  /** Nonces held for one client, expired ones included until the next sweep. */
  countFor(client: string): number {
    return this.#clients.get(client)?.size ?? 0;
  }

  sweep(): void {
    const now = this.#now();
    for (const [client, nonces] of this.#clients) {
      for (const [nonce, expiry] of nonces) if (expiry * 1000 <= now) nonces.delete(nonce);
      if (nonces.size === 0) this.#clients.delete(client);
    }
  }

  get size(): number {
    let n = 0;
    for (const nonces of this.#clients.values()) n += nonces.size;
    return n;
  }
}
