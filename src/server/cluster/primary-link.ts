import { PsimbolsError } from '../../errors.js';
import type { Admission, AdmissionRequest, AdmissionStore, StoreHealth } from '../admission/admission.js';
import type { FailureCounter } from '../admission/failure-limiter.js';
import type { AdmitAsk, Answers, Asks, FailAsk } from './messages.js';

// Admission across the workers of `serve --workers N`: the primary holds the one memory store
// and the one failure count, and workers ask it. A worker has at most one message of questions
// in flight: what is asked meanwhile waits for the answer and goes in the next message (Nagle's
// idea). Under load a message then carries many questions, so the primary's work per request is
// a store lookup and a share of one message; when idle, a question goes at once. A message not
// answered within the deadline fails its questions as 'store_unavailable' (a 503): a primary that
// stops answering never leaves a request hanging.

/** How long a worker waits for the primary's answer to one message. */
const ASK_DEADLINE_MS = 2000;

/** The primary's side: answers one message of questions from its store and failure count. */
export async function answer(asks: Asks, store: AdmissionStore | undefined, failures: FailureCounter): Promise<Answers> {
  const forgotten: Admission = { kind: 'forgotten' };
  const admits = await Promise.all(asks.admits.map(async ([id, r]) => [id, store === undefined ? forgotten : await store.admit(r)] as const));
  const fails = await Promise.all(asks.fails.map(async ([id, key]) => [id, await failures.record(key)] as const));
  return { psimbols: 'answers', admits, fails };
}

type Waiter = { resolve(value: Admission | number): void; reject(e: unknown): void };

/** A worker's side: the store and failure count it asks the primary for. */
export class PrimaryLink implements AdmissionStore, FailureCounter {
  #next = 0;
  #admits: AdmitAsk[] = [];
  #fails: FailAsk[] = [];
  #scheduled = false;
  /** The ids of the message in flight not yet answered, and its deadline. */
  #inFlight: { readonly ids: Set<number>; readonly timer: NodeJS.Timeout } | undefined;
  #closed = false;
  readonly #waiting = new Map<number, Waiter>();
  readonly #send: (asks: Asks) => void;
  readonly #deadlineMs: number;

  constructor(send: (asks: Asks) => void, deadlineMs = ASK_DEADLINE_MS) {
    this.#send = send;
    this.#deadlineMs = deadlineMs;
  }

  // The primary prepares its store before it hands a new config to the workers.
  async prepare(): Promise<void> {}

  async admit(r: AdmissionRequest): Promise<Admission> {
    const answer = await this.#ask((id) => this.#admits.push([id, r]));
    if (typeof answer === 'number') throw new PsimbolsError('store_unavailable', 'the primary answered a failure count for an admission');
    return answer;
  }

  async record(key: string): Promise<number> {
    const answer = await this.#ask((id) => this.#fails.push([id, key]));
    if (typeof answer !== 'number') throw new PsimbolsError('store_unavailable', 'the primary answered an admission for a failure count');
    return answer;
  }

  #ask(queue: (id: number) => void): Promise<Admission | number> {
    if (this.#closed) return Promise.reject(new PsimbolsError('store_unavailable', 'the primary is gone'));
    const id = this.#next++;
    queue(id);
    if (!this.#scheduled && this.#inFlight === undefined) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
    return new Promise((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    if (this.#admits.length === 0 && this.#fails.length === 0) return;
    const asks: Asks = { psimbols: 'asks', admits: this.#admits, fails: this.#fails };
    this.#admits = [];
    this.#fails = [];
    const ids = new Set([...asks.admits.map(([id]) => id), ...asks.fails.map(([id]) => id)]);
    const timer = setTimeout(() => this.#expire(ids), this.#deadlineMs);
    this.#inFlight = { ids, timer };
    try {
      this.#send(asks);
    } catch (e) {
      this.#expire(ids, e);
    }
  };

  // The message is given up on: its questions fail, and the next message may go.
  #expire(ids: Set<number>, cause?: unknown): void {
    if (this.#inFlight?.ids === ids) this.#done();
    const e = new PsimbolsError('store_unavailable', cause === undefined ? `the primary did not answer within ${this.#deadlineMs} ms` : 'the primary could not be asked', { cause });
    for (const id of ids) this.#settle(id, undefined, e);
  }

  #done(): void {
    clearTimeout(this.#inFlight?.timer);
    this.#inFlight = undefined;
    if (this.#admits.length > 0 || this.#fails.length > 0) this.#flush();
  }

  #settle(id: number, value: Admission | number | undefined, error?: unknown): void {
    const w = this.#waiting.get(id);
    if (w === undefined) return;
    this.#waiting.delete(id);
    if (value !== undefined) w.resolve(value);
    else w.reject(error);
  }

  /** An answer that comes after its deadline finds no one waiting, and is dropped. */
  receive(answers: Answers): void {
    for (const [id, admission] of answers.admits) this.#settle(id, admission);
    for (const [id, blockedMs] of answers.fails) this.#settle(id, blockedMs);
    const flight = this.#inFlight;
    if (flight === undefined) return;
    for (const [id] of answers.admits) flight.ids.delete(id);
    for (const [id] of answers.fails) flight.ids.delete(id);
    if (flight.ids.size === 0) this.#done();
  }

  health(): StoreHealth {
    return { store: 'memory', reachable: !this.#closed };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#inFlight?.timer);
    const gone = new PsimbolsError('store_unavailable', 'the primary is gone');
    for (const id of [...this.#waiting.keys()]) this.#settle(id, undefined, gone);
  }
}
