// Exact rolling window per client (a sliding-window log): at most `limit` accepted requests in
// any window. Each client's log is a ring of timestamps that grows by doubling up to the limit,
// so memory is at most 16 bytes per accepted request still in the window (8 once the ring is
// full), and one sweep timer drops idle clients.

type LimitDecision = {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  /** Milliseconds until the oldest accepted request leaves the window, freeing a slot. */
  readonly resetMs: number;
};

type Log = { times: Float64Array; head: number; count: number; windowMs: number };

const INITIAL_CAPACITY = 8;

/** A copy of the newest `min(count, capacity)` entries in a ring of the given capacity. */
function resized(log: Log, capacity: number): Log {
  const keep = Math.min(log.count, capacity);
  const times = new Float64Array(capacity);
  const cap = log.times.length;
  for (let i = 0; i < keep; i++) times[i] = log.times[(log.head + log.count - keep + i) % cap] ?? 0;
  return { times, head: 0, count: keep, windowMs: log.windowMs };
}

export class MemoryRateLimiter {
  readonly #logs = new Map<string, Log>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  take(client: string, limit: number, windowMs: number): LimitDecision {
    const now = this.#now();
    let log = this.#logs.get(client);
    if (log === undefined) {
      log = { times: new Float64Array(Math.min(limit, INITIAL_CAPACITY)), head: 0, count: 0, windowMs };
      this.#logs.set(client, log);
    } else if (log.times.length > limit) {
      // The limit was lowered: keep only as many of the newest entries as now count.
      log = resized(log, limit);
      this.#logs.set(client, log);
    }
    log.windowMs = windowMs;
    let times = log.times;
    while (log.count > 0 && (times[log.head] ?? 0) <= now - windowMs) {
      log.head = (log.head + 1) % times.length;
      log.count--;
    }
    if (log.count < limit && log.count === times.length) {
      log = resized(log, Math.min(limit, times.length * 2));
      this.#logs.set(client, log);
      times = log.times;
    }
    const cap = times.length;
    if (log.count < limit) {
      times[(log.head + log.count) % cap] = now;
      log.count++;
      return { allowed: true, limit, remaining: limit - log.count, resetMs: (times[log.head] ?? now) + windowMs - now };
    }
    return { allowed: false, limit, remaining: 0, resetMs: (times[log.head] ?? now) + windowMs - now };
  }

  /** Drops clients whose newest request has left the window. */
  sweep(): void {
    const now = this.#now();
    for (const [client, log] of this.#logs) {
      const newest = log.times[(log.head + log.count - 1) % log.times.length] ?? 0;
      if (log.count === 0 || newest <= now - log.windowMs) this.#logs.delete(client);
    }
  }

  get size(): number {
    return this.#logs.size;
  }
}
