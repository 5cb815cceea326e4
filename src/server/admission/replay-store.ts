// Remembers accepted (client, nonce) pairs for at least as long as their timestamps could still
// be accepted. Expiries are kept in whole seconds, rounded up: small integers are stored inline
// by V8, where millisecond timestamps would allocate a number per entry, and a nonce kept up to
// a second longer costs nothing but memory.

export class MemoryReplayStore {
  readonly #clients = new Map<string, Map<string, number>>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Keeps every nonce held now `ms` longer (the timestamp window grew). */
  extend(ms: number): void {
    const seconds = Math.ceil(ms / 1000);
    for (const nonces of this.#clients.values()) for (const [nonce, expiry] of nonces) nonces.set(nonce, expiry + seconds);
  }

  /** Records the pair; true when it was already recorded (a replay). */
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

  // Where an incremental sweep stopped. Map iterators stay valid while entries are deleted.
  #clientCursor: Iterator<[string, Map<string, number>]> | undefined;
  #nonceCursor: { client: string; nonces: Map<string, number>; entries: Iterator<[string, number]> } | undefined;

  /**
   * Drops expired nonces. Without a budget, one whole pass. With one, at most `budget` entries,
   * carrying on from where the last call stopped: a store of millions of nonces is then swept in
   * slices instead of one long pause. True when a pass has just completed.
   */
  sweep(budget?: number): boolean {
    if (budget === undefined) {
      this.#clientCursor = undefined;
      this.#nonceCursor = undefined;
    }
    const now = this.#now();
    let left = budget ?? Infinity;
    while (left > 0) {
      if (this.#nonceCursor === undefined) {
        this.#clientCursor ??= this.#clients.entries();
        const next = this.#clientCursor.next();
        if (next.done) {
          this.#clientCursor = undefined;
          return true;
        }
        const [client, nonces] = next.value;
        this.#nonceCursor = { client, nonces, entries: nonces.entries() };
      }
      const cursor = this.#nonceCursor;
      const entry = cursor.entries.next();
      if (entry.done) {
        if (cursor.nonces.size === 0) this.#clients.delete(cursor.client);
        this.#nonceCursor = undefined;
        continue;
      }
      if (entry.value[1] * 1000 <= now) cursor.nonces.delete(entry.value[0]);
      left--;
    }
    return false;
  }

  get size(): number {
    let n = 0;
    for (const nonces of this.#clients.values()) n += nonces.size;
    return n;
  }
}
