import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { OnStoreError } from '../../config/server-config.js';
import { REFUSAL_REASONS } from '../../protocol/result.js';
import type { Sent } from './log.js';

// Prometheus metrics (prom-client), loaded only when `--metrics` is given. Every label value
// comes from a bounded set: registered clients and functions, fixed outcomes and reasons. What a
// request names (an unknown id, an unknown function) is counted as "other", never as itself.

/** What the server tells its metrics. */
export type Observer = {
  request(sent: Sent, ms: number): void;
  call(module: string, fn: string, ms: number, errorCode: string | undefined): void;
  fallback(mode: OnStoreError): void;
};

/** What a store says of itself (the admission store's health()). */
type StoreHealth = { readonly store: string; readonly reachable: boolean };
/** Anything whose size is a gauge: the replay store, the limiter, the failure count. */
type Sized = { readonly size: number };

type Sources = {
  readonly isClient: (id: string) => boolean;
  readonly isFunction: (module: string, fn: string) => boolean;
  readonly health: () => StoreHealth;
  readonly pool: () => { readonly queued: number; readonly active: number };
};

const REASONS: ReadonlySet<string> = new Set(REFUSAL_REASONS);
const OTHER = 'other';
const NONE = 'none';
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function callLabel(sent: Sent, s: Sources): string {
  if (sent.module === undefined || sent.fn === undefined) return NONE;
  return s.isFunction(sent.module, sent.fn) ? `${sent.module}.${sent.fn}` : OTHER;
}

function gauges(registry: Registry, s: Sources): void {
  const registers = [registry];
  new Gauge({
    name: 'psimbols_store_up',
    help: '1 while the limits and replay store is reachable (the least over workers)',
    labelNames: ['store'] as const,
    registers,
    aggregator: 'min',
    collect() {
      const h = s.health();
      this.set({ store: h.store }, h.reachable ? 1 : 0);
    },
  });
  new Gauge({ name: 'psimbols_function_queue', help: 'isolated function calls waiting for a worker thread', registers, collect() { this.set(s.pool().queued); } });
  new Gauge({ name: 'psimbols_function_calls_active', help: 'function calls running', registers, collect() { this.set(s.pool().active); } });
}

/** The server's metrics in `registry`, with the process's (event-loop lag, heap, GC). */
/** What psimbols_build_info says: the versions of psimbols and of Node. */
export type BuildInfo = { readonly version: string; readonly node: string };

/** psimbols_build_info{version,node} 1, as exporters have; with --workers, the primary's alone. */
export function buildInfo(registry: Registry, build: BuildInfo): void {
  const info = new Gauge({ name: 'psimbols_build_info', help: 'the psimbols version and the Node version it runs on; always 1', labelNames: ['version', 'node'] as const, registers: [registry] });
  info.set({ version: build.version, node: build.node }, 1);
}

export function serverMetrics(registry: Registry, s: Sources): Observer {
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  // Gauges whose names end in _total, which `promtool check metrics` rejects; nothing above needs them.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  gauges(registry, s);
  const requests = new Counter({ name: 'psimbols_requests_total', help: 'requests answered, by outcome and by registered function', labelNames: ['outcome', 'call'] as const, registers });
  const latency = new Histogram({ name: 'psimbols_request_duration_seconds', help: 'time to answer a request', labelNames: ['outcome'] as const, buckets: LATENCY_BUCKETS, registers });
  const calls = new Histogram({ name: 'psimbols_function_duration_seconds', help: 'time a function call took', labelNames: ['call'] as const, buckets: LATENCY_BUCKETS, registers });
  const timeouts = new Counter({ name: 'psimbols_function_timeouts_total', help: 'function calls stopped at their deadline', labelNames: ['call'] as const, registers });
  const limited = new Counter({ name: 'psimbols_rate_limited_total', help: '429s for a client over its hourly limit', labelNames: ['client'] as const, registers });
  const refusals = new Counter({ name: 'psimbols_refusals_total', help: 'authentication refusals (401, or 429 for a blocked address), by reason', labelNames: ['reason'] as const, registers });
  const health = new Counter({ name: 'psimbols_health_checks_total', help: 'GET and HEAD / answered (health checks), apart from calls', registers });
  const fallbacks = new Counter({ name: 'psimbols_store_fallbacks_total', help: 'times the shared store became unreachable, by onStoreError mode', labelNames: ['mode'] as const, registers });
  return {
    request: (sent, ms) => {
      const { outcome } = sent;
      // Health checks are not calls: they are counted apart.
      if (outcome === 'health') return health.inc();
      requests.inc({ outcome, call: callLabel(sent, s) });
      latency.observe({ outcome }, ms / 1000);
      if (outcome === 'rate_limited') limited.inc({ client: sent.client !== undefined && s.isClient(sent.client) ? sent.client : OTHER });
      if (sent.reason !== undefined) refusals.inc({ reason: REASONS.has(sent.reason) ? sent.reason : OTHER });
    },
    call: (module, fn, ms, errorCode) => {
      const call = s.isFunction(module, fn) ? `${module}.${fn}` : OTHER;
      calls.observe({ call }, ms / 1000);
      if (errorCode === 'timeout') timeouts.inc({ call });
    },
    fallback: (mode) => fallbacks.inc({ mode }),
  };
}

/** The sizes of the admission state held in this process's memory. */
export function admissionSizes(registry: Registry, o: { replay?: Sized; limiter?: Sized; failures: Sized }): void {
  const registers = [registry];
  const { replay, limiter, failures } = o;
  if (replay) new Gauge({ name: 'psimbols_replay_nonces', help: 'nonces held by the memory replay store', registers, collect() { this.set(replay.size); } });
  if (limiter) new Gauge({ name: 'psimbols_limiter_clients', help: 'clients with requests in the memory rate limiter', registers, collect() { this.set(limiter.size); } });
  new Gauge({ name: 'psimbols_failure_addresses', help: 'addresses with failed authentications being counted', registers, collect() { this.set(failures.size); } });
}

/** The primary's own gauges under `serve --workers`: the admission state it holds, and its workers. */
export function primaryRegistry(sizes: Parameters<typeof admissionSizes>[1], workers: () => number, restarts: () => number, build?: BuildInfo): Registry {
  const registry = new Registry();
  const registers = [registry];
  if (build) buildInfo(registry, build);
  admissionSizes(registry, sizes);
  new Gauge({ name: 'psimbols_workers', help: 'worker processes running', registers, collect() { this.set(workers()); } });
  new Counter({ name: 'psimbols_worker_restarts_total', help: 'workers started again after one exited, since the primary started', registers, collect() { this.reset(); this.inc(restarts()); } });
  return registry;
}

/** A registry whose metrics the primary of a cluster gathers from each worker on a scrape. */
export function workerRegistry(): Registry {
  const registry = new Registry();
  AggregatorRegistry.setRegistries(registry);
  // The constructor installs the listener that answers the primary.
  new AggregatorRegistry();
  return registry;
}

/** The primary's exposition: every worker's metrics summed (prom-client's aggregation), then its own. */
export function clusterExposition(own: Registry): () => Promise<string> {
  const aggregator = new AggregatorRegistry();
  return async () => `${await aggregator.clusterMetrics()}${await own.metrics()}`;
}


/** What metrics read once the server is assembled. */
type Parts = {
  readonly processor: { readonly state: { readonly clients: ReadonlyMap<string, unknown> } };
  readonly runner: { has(module: string, fn: string): boolean; load(): { queued: number; active: number } };
  readonly store: { health(): StoreHealth };
};

export type Instruments = {
  readonly observer: Observer;
  readonly registry: Registry;
  /** Called once the parts the metrics read exist. */
  bind(parts: Parts): void;
};

/** The server's metrics before it is assembled: a cluster worker's registry answers its primary. */
export function instrument(worker: boolean): Instruments {
  const registry = worker ? workerRegistry() : new Registry();
  let parts: Parts | undefined;
  const observer = serverMetrics(registry, {
    isClient: (id) => parts?.processor.state.clients.has(id) ?? false,
    isFunction: (module, fn) => parts?.runner.has(module, fn) ?? false,
    health: () => parts?.store.health() ?? { store: 'memory', reachable: false },
    pool: () => parts?.runner.load() ?? { queued: 0, active: 0 },
  });
  return { observer, registry, bind: (p) => void (parts = p) };
}
