import type { Logger } from './log.js';

// An address past its failure limit is answered 429 for every failure, and a flood from it would
// write an access line a request. Of each address's blocked requests, the first of a window is
// written and the rest counted: one line says how many were left out, once a window. Memory is
// bounded: past `maxAddresses`, the oldest address's count is written out early.

export class BlockedLines {
  readonly #counts = new Map<string, number>();
  readonly #log: Logger;
  readonly #windowSeconds: number;
  readonly #maxAddresses: number;
  readonly #timer: NodeJS.Timeout;

  constructor(log: Logger, windowMs: number, maxAddresses = 10_000) {
    this.#log = log;
    this.#windowSeconds = Math.round(windowMs / 1000);
    this.#maxAddresses = maxAddresses;
    this.#timer = setInterval(() => this.flush(), windowMs).unref();
  }

  /** True when this blocked request's access line is to be written. */
  admit(address: string): boolean {
    const n = this.#counts.get(address);
    if (n !== undefined) {
      this.#counts.set(address, n + 1);
      return false;
    }
    if (this.#counts.size >= this.#maxAddresses) {
      const [oldest, count] = this.#counts.entries().next().value ?? ['', 0];
      this.#counts.delete(oldest);
      this.#report(oldest, count);
    }
    this.#counts.set(address, 0);
    return true;
  }

  /** Writes the counts of this window and starts the next. */
  flush(): void {
    for (const [address, count] of this.#counts) this.#report(address, count);
    this.#counts.clear();
  }

  #report(address: string, suppressed: number): void {
    if (suppressed > 0) this.#log.log('warn', 'access lines left out for an address over its failure limit', { address, suppressed, windowSeconds: this.#windowSeconds });
  }

  close(): void {
    clearInterval(this.#timer);
    this.flush();
  }
}
