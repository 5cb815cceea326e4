import { isPsimbolsError } from '../../errors.js';
import { LIST_FUNCTIONS, type RunRequest, type RunResponse } from '../../protocol/messages.js';
import { parseOuterRequest, type OuterResponse } from '../../protocol/outer.js';
import type { AdmissionStore } from '../admission/admission.js';
import { Authenticator, type Authenticated, type Refused } from './authenticate.js';
import type { FailureCounter } from '../admission/failure-limiter.js';
import type { CallOutcome, FunctionRunner } from './function-runner.js';
import type { ClientState, ServerState } from './server-state.js';

// Turns a parsed request body into an outcome, with no knowledge of HTTP: authenticate, admit
// (replay check and rate limit), run, seal. The handler maps outcomes to statuses and seconds.

export const WINDOW_MS = 3_600_000;

export type Served = {
  readonly client: string;
  readonly requestId: string;
  readonly module: string;
  readonly fn: string;
  readonly limit: number;
  readonly remaining: number;
  readonly resetMs: number;
};

export type Outcome =
  | { readonly kind: 'bad_request'; readonly message: string }
  | Refused
  /** `reason`: the store cannot vouch for a request stamped before its memory began; otherwise it cannot decide at all. */
  | { readonly kind: 'unavailable'; readonly client: string; readonly reason?: 'before_start' | 'forgotten' }
  /** Over the client's limit: the handler words the error, sealed for this request by `seal`. */
  | ({ readonly kind: 'limited'; readonly seal: (response: RunResponse) => OuterResponse } & Served)
  | ({
      readonly kind: 'ok';
      readonly response: OuterResponse;
      /** The function-level error code and any internal detail, for the log only. */
      readonly errorCode: string | undefined;
      readonly detail: string | undefined;
    } & Served);

type ProcessorOptions = {
  readonly store: AdmissionStore;
  readonly runner: FunctionRunner;
  readonly now?: () => number;
  /** Where failed authentications are counted: here, or in a cluster's primary. */
  readonly failures: FailureCounter;
  readonly observer?: CallObserver;
};

/** Told of every function call: its name, how long it took, and the error code if it failed. */
export type CallObserver = (module: string, fn: string, ms: number, errorCode: string | undefined) => void;

const NOT_JSON = { code: 'function_failed', message: 'the function returned a value that is not JSON' } as const;

export class Processor {
  #state: ServerState;
  readonly #store: AdmissionStore;
  readonly #runner: FunctionRunner;
  readonly #now: () => number;
  readonly #auth: Authenticator;
  readonly #observer: CallObserver | undefined;

  constructor(state: ServerState, options: ProcessorOptions) {
    this.#state = state;
    this.#store = options.store;
    this.#runner = options.runner;
    this.#now = options.now ?? Date.now;
    this.#auth = new Authenticator(options.failures);
    this.#observer = options.observer;
  }

  /** Swaps in a new set of clients once the store is ready for them; requests already running finish with the old one. */
  async update(state: ServerState): Promise<void> {
    await this.#store.prepare([...state.clients.keys()], state.window);
    this.#state = state;
  }

  get state(): ServerState {
    return this.#state;
  }

  /** Never rejects for a store that cannot decide (a primary that stops answering included): that is 'unavailable'. */
  async process(body: unknown, ip: string): Promise<Outcome> {
    try {
      return await this.#process(body, ip);
    } catch (e) {
      // The id the body claims, for the log of a request that could not be decided.
      if (isPsimbolsError(e, 'store_unavailable')) return { kind: 'unavailable', client: parseOuterRequest(body)?.client ?? '' };
      throw e;
    }
  }

  async #process(body: unknown, ip: string): Promise<Outcome> {
    const state = this.#state;
    const gate = await this.#auth.check(body, ip, { state, nowMs: this.#now() });
    if (gate.kind !== 'authenticated') return gate;
    const a = gate.request;
    const { window } = state;
    const admission = await this.#store.admit({ client: a.client.id, nonceKey: a.nonceKey, nonceTtlMs: a.nonceTtlMs, limit: a.client.limit, windowMs: WINDOW_MS, ts: a.ts, pastSeconds: window.pastSeconds, futureSeconds: window.futureSeconds });
    if (admission.kind === 'forgotten' || admission.kind === 'before_start') return { kind: 'unavailable', client: a.client.id, reason: admission.kind };
    if (admission.kind !== 'allowed' && admission.kind !== 'limited') return this.#auth.refuse(ip, admission.kind, a.client.id);
    const { limit, remaining, resetMs } = admission;
    const client = a.client.id;
    const requestId = a.message.request_id;
    const { module, function: fn } = a.message.run;
    if (admission.kind === 'limited') return { kind: 'limited', client, requestId, module, fn, limit, remaining, resetMs, seal: (m) => outerOf(a, a.seal(m)) };
    const observer = this.#observer;
    const outcome = await (observer ? this.#observed(observer, a.client, a.message) : this.#call(a.client, a.message));
    const { response, errorCode, detail } = sealOutcome(a, outcome);
    return { kind: 'ok', client, requestId, module, fn, limit, remaining, resetMs, response, errorCode, detail };
  }

  async #observed(observer: CallObserver, client: ClientState, message: RunRequest): Promise<CallOutcome> {
    const start = performance.now();
    const outcome = await this.#call(client, message);
    observer(message.run.module, message.run.function, performance.now() - start, outcome.ok ? undefined : outcome.error.code);
    return outcome;
  }

  async #call(client: ClientState, message: RunRequest): Promise<CallOutcome> {
    const { module, function: fn, params } = message.run;
    if (module === LIST_FUNCTIONS.module && fn === LIST_FUNCTIONS.function) {
      return { ok: true, value: { value: this.#runner.list(client.allow), comment: 'functions this client may call' } };
    }
    return this.#runner.invoke(client.id, module, fn, params, client.allow);
  }
}

const outerOf = (a: Authenticated, token: string): OuterResponse => ({ client: a.client.id, server: a.outer.server, response: token });

function sealOutcome(a: Authenticated, outcome: CallOutcome): { response: OuterResponse; errorCode: string | undefined; detail: string | undefined } {
  const id = a.message.request_id;
  try {
    if (outcome.ok) return { response: outerOf(a, a.seal({ request_id: id, return: outcome.value })), errorCode: undefined, detail: undefined };
    return { response: outerOf(a, a.seal({ request_id: id, error: outcome.error })), errorCode: outcome.error.code, detail: outcome.detail };
  } catch {
    // The value could not be serialised (a BigInt, a cycle): the client still gets an answer.
    return { response: outerOf(a, a.seal({ request_id: id, error: NOT_JSON })), errorCode: NOT_JSON.code, detail: undefined };
  }
}
