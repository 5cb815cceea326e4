import { PsimbolsError } from '../../errors.js';
import type { Window } from '../../protocol/envelope.js';
import type { Admission, AdmissionRequest, AdmissionStore, StoreHealth } from '../admission/admission.js';
import { MemoryAdmissionStore } from '../admission/admission.js';
import type { FailureCounter, FailureLimiter } from '../admission/failure-limiter.js';

// Admission across the workers of `serve --workers N`: the primary holds the one memory store
// and the one failure count, and workers ask it. A worker has at most one message of questions
// in flight: what is asked meanwhile waits for the answer and goes in the next message (Nagle's
// idea). Under load a message then carries many questions, so the primary's work per request is
// a store lookup and a share of one message; when idle, a question goes at once.

type AdmitAsk = readonly [id: number, client: string, nonceKey: string, nonceTtlMs: number, limit: number, windowMs: number, ts: number | null];
type FailAsk = readonly [id: number, key: string];
type AdmitAnswer = readonly [id: number, kind: Admission['kind'], limit: number, remaining: number, resetMs: number];
type FailAnswer = readonly [id: number, blockedMs: number];

export type Asks = { readonly psimbols: 'asks'; readonly admits: readonly AdmitAsk[]; readonly fails: readonly FailAsk[] };
export type Answers = { readonly psimbols: 'answers'; readonly acceptsFrom: number | undefined; readonly admits: AdmitAnswer[]; readonly fails: FailAnswer[] };

const UNITS: Record<string, Admission> = { replayed: { kind: 'replayed' }, stale: { kind: 'stale' }, future: { kind: 'future' }, forgotten: { kind: 'forgotten' } };

function admissionOf(a: AdmitAnswer): Admission {
  const [, kind, limit, remaining, resetMs] = a;
  return kind === 'allowed' || kind === 'limited' ? { kind, limit, remaining, resetMs } : (UNITS[kind] ?? { kind: 'forgotten' });
}

/** The primary's side: answers one message of asks from its store and failure count. */
export function answer(asks: Asks, store: MemoryAdmissionStore | undefined, failures: FailureLimiter): Answers {
  const admits = asks.admits.map(([id, client, nonceKey, nonceTtlMs, limit, windowMs, ts]): AdmitAnswer => {
    if (store === undefined) return [id, 'forgotten', 0, 0, 0];
    const a = store.admitNow({ client, nonceKey, nonceTtlMs, limit, windowMs, ts: ts ?? undefined });
    return a.kind === 'allowed' || a.kind === 'limited' ? [id, a.kind, a.limit, a.remaining, a.resetMs] : [id, a.kind, 0, 0, 0];
  });
  const fails = asks.fails.map(([id, key]): FailAnswer => [id, failures.record(key)]);
  return { psimbols: 'answers', acceptsFrom: store?.acceptsFrom, admits, fails };
}

type Waiter = { resolve(value: never): void; reject(e: unknown): void };

/** A worker's side: the store and failure count it asks the primary for. */
export class PrimaryLink implements AdmissionStore, FailureCounter {
  /** The primary store's, as its last message said. */
  acceptsFrom: number | undefined;
  #next = 0;
  #admits: AdmitAsk[] = [];
  #fails: FailAsk[] = [];
  #scheduled = false;
  #inFlight = false;
  #closed = false;
  readonly #waiting = new Map<number, Waiter>();
  readonly #send: (asks: Asks) => void;

  constructor(send: (asks: Asks) => void, acceptsFrom: number | undefined) {
    this.#send = send;
    this.acceptsFrom = acceptsFrom;
  }

  // The primary prepares its store before it hands a new config to the workers.
  async prepare(_clients: readonly string[], _window: Window): Promise<void> {}

  admit(r: AdmissionRequest): Promise<Admission> {
    return this.#ask<Admission>((id) => this.#admits.push([id, r.client, r.nonceKey, r.nonceTtlMs, r.limit, r.windowMs, r.ts ?? null]));
  }

  record(key: string): Promise<number> {
    return this.#ask<number>((id) => this.#fails.push([id, key]));
  }

  #ask<T>(queue: (id: number) => void): Promise<T> {
    if (this.#closed) return Promise.reject(new PsimbolsError('store_unavailable', 'the primary is gone'));
    const id = this.#next++;
    queue(id);
    if (!this.#scheduled && !this.#inFlight) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
    return new Promise<T>((resolve, reject) => this.#waiting.set(id, { resolve: resolve as (v: never) => void, reject }));
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    if (this.#admits.length === 0 && this.#fails.length === 0) return;
    this.#inFlight = true;
    const asks: Asks = { psimbols: 'asks', admits: this.#admits, fails: this.#fails };
    this.#admits = [];
    this.#fails = [];
    try {
      this.#send(asks);
    } catch (e) {
      this.#inFlight = false;
      for (const [id] of [...asks.admits, ...asks.fails]) this.#settle(id, undefined, e);
    }
  };

  #settle(id: number, value: unknown, error?: unknown): void {
    const w = this.#waiting.get(id);
    if (w === undefined) return;
    this.#waiting.delete(id);
    if (error === undefined) w.resolve(value as never);
    else w.reject(new PsimbolsError('store_unavailable', 'the primary did not answer', { cause: error }));
  }

  receive(answers: Answers): void {
    this.#inFlight = false;
    if (this.#admits.length > 0 || this.#fails.length > 0) this.#flush();
    this.acceptsFrom = answers.acceptsFrom;
    for (const a of answers.admits) this.#settle(a[0], admissionOf(a));
    for (const [id, blockedMs] of answers.fails) this.#settle(id, blockedMs);
  }

  health(): StoreHealth {
    return { store: 'memory', reachable: !this.#closed };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const id of [...this.#waiting.keys()]) this.#settle(id, undefined, new Error('closed'));
  }
}
