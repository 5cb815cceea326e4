import type { Admission, AdmissionRequest, AdmissionStore, StoreHealth } from './admission.js';
import { MemoryAdmissionStore, UnlimitedAdmissionStore } from './memory-store.js';
import type { OnStoreError } from '../../config/server-config.js';
import type { Window } from '../../protocol/envelope.js';
import type { Logger } from '../observe/log.js';
import { errorMessage, PsimbolsError } from '../../errors.js';

// What the server does while the shared store fails (README, "Several instances"):
//   closed  refuse with 503 rather than accept unchecked requests (the default)
//   local   use this instance's memory stores: limits become per instance
//   open    serve without rate limits (replays are still refused locally)
// In local and open modes, tokens stamped before the outage get 503: see #fallback.
// Every request still tries the shared store first (its circuit breaker makes that cheap), so
// the server returns to it on its own. Each transition is logged once.


const IN_FLIGHT_S = 1;

const MESSAGES: Record<OnStoreError, string> = {
  closed: 'store unreachable: refusing requests with 503 until it is back (onStoreError=closed)',
  local: 'store unreachable: falling back to this instance\'s memory, limits are now per instance (onStoreError=local)',
  open: 'store unreachable: SERVING WITHOUT RATE LIMITS until it is back (onStoreError=open)',
};

export class FailoverAdmissionStore implements AdmissionStore {
  readonly #primary: AdmissionStore;
  readonly #mode: OnStoreError;
  readonly #log: Logger;
  readonly #now: () => number;
  /** This instance's own store while the shared one is down: local limits, or none (open). */
  #local: AdmissionStore | undefined;
  #window: Window | undefined;
  /** Unix seconds at which the fallback began; undefined while the shared store works. */
  #since: number | undefined;

  readonly #onFallback: ((mode: OnStoreError) => void) | undefined;

  constructor(primary: AdmissionStore, mode: OnStoreError, log: Logger, now: () => number = Date.now, onFallback?: (mode: OnStoreError) => void) {
    this.#onFallback = onFallback;
    this.#primary = primary;
    this.#mode = mode;
    this.#log = log;
    this.#now = now;
  }

  /** A shared store that cannot be prepared now is prepared by its reconnection (redis-store.ts). */
  async prepare(clients: readonly string[], window: Window): Promise<void> {
    this.#window = window;
    await this.#local?.prepare(clients, window);
    await this.#primary.prepare(clients, window).catch(() => undefined);
  }

  async admit(r: AdmissionRequest): Promise<Admission> {
    try {
      const admission = await this.#primary.admit(r);
      if (this.#since !== undefined) {
        this.#since = undefined;
        this.#log.log('info', 'store reachable again: shared limits apply', { mode: this.#mode });
      }
      return admission;
    } catch (e) {
      if (this.#since === undefined) {
        this.#since = Math.floor(this.#now() / 1000);
        this.#onFallback?.(this.#mode);
        this.#log.log(this.#mode === 'open' ? 'error' : 'warn', MESSAGES[this.#mode], { problem: errorMessage(e) });
      }
      if (this.#mode === 'closed') throw e;
      return this.#fallback(r, this.#since);
    }
  }

  async #fallback(r: AdmissionRequest, since: number): Promise<Admission> {
    // Tokens stamped before the outage may already have been accepted through the shared store,
    // which the local memory never saw, so they cannot be checked: answer as if the store were
    // down (503), and a client's retry, sealed afresh, passes. Requests in flight when the outage
    // is noticed were sealed a moment before it; IN_FLIGHT_S lets those through.
    if (r.ts !== undefined && r.ts < since - IN_FLIGHT_S) throw new PsimbolsError('store_unavailable', 'token stamped before the store became unreachable');
    if (this.#local === undefined) {
      // Tokens stamped from the outage on are this store's to check: it remembers from then.
      this.#local = this.#mode === 'local' ? new MemoryAdmissionStore({ now: this.#now, remembersFrom: 0 }) : new UnlimitedAdmissionStore(this.#now);
      if (this.#window) void this.#local.prepare([], this.#window);
    }
    return this.#local.admit(r);
  }

  health(): StoreHealth {
    const h = this.#primary.health();
    return this.#since === undefined ? h : { ...h, reachable: false };
  }

  async close(): Promise<void> {
    await this.#primary.close();
    await this.#local?.close();
  }
}
