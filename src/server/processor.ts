import { createHash } from 'node:crypto';
import type { ClientEntry, ServerConfig } from '../config/server-config.js';
import type { RefusalReason } from '../errors.js';
import { openRequest, sealResponse, type Window } from '../protocol/envelope.js';
import { prepareKey, type LegacyKey, type V2Key } from '../protocol/keys.js';
import { openLegacyRequest, sealLegacyResponse } from '../protocol/legacy-cbc.js';
import { LIST_FUNCTIONS, type RunRequest, type RunResponse } from '../protocol/messages.js';
import { parseOuterRequest, type OuterResponse } from '../protocol/outer.js';
import type { AdmissionStore } from './admission.js';
import { FailureLimiter } from './failure-limiter.js';
import type { CallOutcome, FunctionRunner } from './function-runner.js';
import { compileAllow, type Allow } from './registry.js';

// Turns a parsed request body into an outcome, with no knowledge of HTTP. The handler maps
// outcomes to statuses; everything about who may do what is decided here.

export const WINDOW_MS = 3_600_000;
const LEGACY_REPLAY_MS = 24 * 3_600_000;
const UNKNOWN_CLIENT: ClientState = {
  id: '',
  server: undefined,
  keys: [{ ...(prepareKey({ type: 'AES', mode: 'GCM', encoding: 'base64url', data: 'A'.repeat(43) }) as V2Key), kid: Buffer.alloc(8) }],
  legacy: undefined,
  limit: 0,
  allow: () => false,
};

type ClientState = {
  readonly id: string;
  readonly server: string | undefined;
  readonly keys: readonly V2Key[];
  readonly legacy: LegacyKey | undefined;
  readonly limit: number;
  readonly allow: Allow;
};

export type ServerState = {
  readonly clients: ReadonlyMap<string, ClientState>;
  readonly window: Window;
};

export type Served = {
  readonly client: string;
  readonly requestId: string;
  readonly call: string;
  readonly response: OuterResponse;
  readonly limit: number;
  readonly remaining: number;
  readonly resetMs: number;
  /** The function-level error code and any internal detail, for the log only. */
  readonly errorCode: string | undefined;
  readonly detail?: string;
};

export type Outcome =
  | { readonly kind: 'bad_request'; readonly message: string }
  | { readonly kind: 'unauthorized'; readonly reason: RefusalReason; readonly client: string }
  | { readonly kind: 'blocked'; readonly retryAfter: number }
  | { readonly kind: 'unavailable'; readonly retryAfter: number; readonly client: string }
  | ({ readonly kind: 'ok' | 'limited' } & Served);

export type ProcessorOptions = {
  readonly store: AdmissionStore;
  readonly runner: FunctionRunner;
  readonly now?: () => number;
  readonly failedAuthPerIp?: number;
  readonly failedAuthWindowMs?: number;
};

function clientState(id: string, entry: ClientEntry, config: ServerConfig): ClientState {
  const keys = entry.keys.map(prepareKey);
  const legacy = keys.find((k): k is LegacyKey => k.kind === 'legacy');
  return {
    id,
    server: entry.server,
    keys: keys.filter((k): k is V2Key => k.kind === 'v2'),
    legacy,
    limit: entry.requestsPerHour ?? config.defaults.requestsPerHour,
    allow: compileAllow(entry.allow ?? config.defaults.allow),
  };
}

/** Derives everything the request path needs from a validated config, once per (re)load. */
export function buildState(config: ServerConfig): ServerState {
  const clients = new Map<string, ClientState>();
  for (const [id, entry] of Object.entries(config.clients)) clients.set(id, clientState(id, entry, config));
  return { clients, window: { pastSeconds: config.limits.pastSeconds, futureSeconds: config.limits.futureSeconds } };
}

export function legacyClients(state: ServerState): string[] {
  return [...state.clients.values()].filter((c) => c.legacy !== undefined).map((c) => c.id);
}

type Opened = {
  readonly message: RunRequest;
  readonly ts: number | undefined;
  readonly nonceKey: string;
  readonly nonceTtlMs: number;
  readonly seal: (response: RunResponse) => string;
};

const legacyNonce = (token: string): string => `L${createHash('sha256').update(token).digest('base64url')}`;

export class Processor {
  #state: ServerState;
  readonly #store: AdmissionStore;
  readonly #runner: FunctionRunner;
  readonly #now: () => number;
  readonly failures: FailureLimiter;

  constructor(state: ServerState, options: ProcessorOptions) {
    this.#state = state;
    this.#store = options.store;
    this.#runner = options.runner;
    this.#now = options.now ?? Date.now;
    this.failures = new FailureLimiter({ limit: options.failedAuthPerIp ?? 100, windowMs: options.failedAuthWindowMs ?? 300_000 }, this.#now);
  }

  /** Swaps in a new set of clients; requests already running finish with the old one. */
  update(state: ServerState): void {
    this.#state = state;
  }

  get state(): ServerState {
    return this.#state;
  }

  async process(body: unknown, ip: string): Promise<Outcome> {
    const outer = parseOuterRequest(body);
    if (outer === undefined) return { kind: 'bad_request', message: 'the body must be a JSON object with string "client" and "request" fields' };
    const blocked = this.failures.blockedFor(ip);
    if (blocked > 0) return { kind: 'blocked', retryAfter: blocked };

    const refuse = (reason: RefusalReason): Outcome => {
      this.failures.fail(ip);
      return { kind: 'unauthorized', reason, client: outer.client };
    };
    const state = this.#state;
    const nowMs = this.#now();
    const known = state.clients.get(outer.client);
    // An unknown id goes down the same path as a known one, with a key that matches no token, so
    // it costs the same work (a decoy decryption): timing does not tell which ids exist.
    const client = known ?? UNKNOWN_CLIENT;

    let opened: Opened;
    if (client.legacy !== undefined) {
      const key = client.legacy;
      const r = openLegacyRequest(outer.request, key);
      if (!r.ok) return refuse(r.reason);
      opened = { message: r.value, ts: undefined, nonceKey: legacyNonce(outer.request), nonceTtlMs: LEGACY_REPLAY_MS, seal: (m) => sealLegacyResponse(m, key) };
    } else {
      const server = outer.server ?? '';
      const r = openRequest(outer.request, {
        client: outer.client,
        server,
        keys: client.keys,
        now: Math.floor(nowMs / 1000),
        window: state.window,
        acceptsFrom: this.#store.acceptsFrom,
      });
      if (known === undefined) return refuse('unknown_client');
      if (!r.ok) return refuse(r.reason);
      // Checked after decryption so a mismatch costs the same work as any other refusal.
      if (server !== client.server) return refuse('server_mismatch');
      const { key, header } = r.value;
      const token = outer.request;
      opened = {
        message: r.value.message,
        ts: header.ts,
        nonceKey: header.nonce.toString('base64url'),
        nonceTtlMs: Math.max(1000, (header.ts + state.window.pastSeconds + 1) * 1000 - nowMs),
        seal: (m) => sealResponse(m, { client: client.id, server, key, requestToken: token }),
      };
    }

    const { message } = opened;
    const call = `${message.run.module}.${message.run.function}`;
    const respond = (kind: 'ok' | 'limited', m: RunResponse, limit: number, remaining: number, resetMs: number, errorCode: string | undefined, detail?: string): Outcome => ({
      kind,
      client: client.id,
      requestId: message.request_id,
      call,
      response: { client: client.id, server: outer.server, response: opened.seal(m) },
      limit,
      remaining,
      resetMs,
      errorCode,
      ...(detail === undefined ? {} : { detail }),
    });

    let admission;
    try {
      admission = await this.#store.admit({
        client: client.id,
        nonceKey: opened.nonceKey,
        nonceTtlMs: opened.nonceTtlMs,
        limit: client.limit,
        windowMs: WINDOW_MS,
        ...(opened.ts === undefined ? {} : { ts: opened.ts }),
      });
    } catch {
      return { kind: 'unavailable', retryAfter: 5, client: client.id };
    }
    if (admission.kind === 'replayed') return refuse('replayed');
    if (admission.kind === 'limited') {
      const seconds = Math.max(1, Math.ceil(admission.resetMs / 1000));
      const error = { code: 'rate_limited', message: `too many requests: retry in ${seconds} s` };
      return respond('limited', { request_id: message.request_id, error }, admission.limit, 0, admission.resetMs, 'rate_limited');
    }

    const outcome = await this.#call(client, message);
    const reply: RunResponse = outcome.ok ? { request_id: message.request_id, return: outcome.value } : { request_id: message.request_id, error: outcome.error };
    try {
      return respond('ok', reply, admission.limit, admission.remaining, admission.resetMs, outcome.ok ? undefined : outcome.error.code, outcome.ok ? undefined : outcome.detail);
    } catch {
      // The value could not be serialised (a BigInt, a cycle): the client still gets an answer.
      const error = { code: 'function_failed', message: 'the function returned a value that is not JSON' };
      return respond('ok', { request_id: message.request_id, error }, admission.limit, admission.remaining, admission.resetMs, error.code);
    }
  }

  #call(client: ClientState, message: RunRequest): Promise<CallOutcome> {
    const { module, function: fn, params } = message.run;
    if (module === LIST_FUNCTIONS.module && fn === LIST_FUNCTIONS.function) {
      return Promise.resolve({ ok: true, value: { value: this.#runner.list(client.allow), comment: 'functions this client may call' } });
    }
    return this.#runner.invoke(client.id, module, fn, params, client.allow);
  }
}
