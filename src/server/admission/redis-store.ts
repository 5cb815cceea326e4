import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { parseStoreUrl, type StoreUrl } from '../../config/urls.js';
import { errorMessage, PsimbolsError } from '../../errors.js';
import { MAX_WINDOW_SECONDS } from '../../protocol/envelope.js';
import { REFUSED_NONCES, type Admission, type AdmissionRequest, type AdmissionStore, type StoreHealth } from './admission.js';
import { decodeAnswer, luaArgv, luaPrelude } from './codec.js';

// Limits and replays shared by several server instances. One Lua script decides both in one
// round trip: SET NX of the replay key fails for a replay; otherwise the client's sorted set of
// accepted requests is trimmed, counted and added to. A refused request's replay key is deleted
// again unless a slot frees before its token goes stale, and, as in the memory store, a client
// keeps at most min(limit, 1000) refused nonces (a third sorted set, scored by expiry). Scripts
// run atomically, and each redis.call costs about a microsecond of Redis's time, so the common
// path makes as few as it can.
//
// One clock and one memory for every instance (docs/SECURITY.md, "Replays"):
// - Time comes from Redis (TIME): it judges a ps2 token stale or future, and a nonce is kept
//   until its token is stale under the widest window any instance may use (MAX_WINDOW_SECONDS),
//   so neither skewed instance clocks nor a window widened on one instance readmit a token.
// - With replicaAcks (Sentinel and Cluster: 1 by default), WAIT follows the script in one
//   pipeline, and a request is allowed only once that many replicas hold its writes: a master
//   that another has replaced, still writable for seconds after a switchover, accepts nothing.
// - Each client has an epoch key, beside its other keys under the same hash tag, holding the
//   time from which this store remembers it. A Redis that lost its data (a restart without
//   persistence, a failover to an empty replica, one Cluster shard) has no epoch: the next
//   admission, or the instance on reconnecting, writes the current time, and tokens stamped
//   before it are answered 'forgotten' (503), since they cannot be checked. A retry
//   sealed afresh passes. At start, and for clients added by a reload, an instance writes the
//   start of the current second instead, so that a new client's first request is not refused.

// The script's own arguments, after the request's fields (codec.ts); and its keys, in order.
const ADMIT_EXTRA = ['refusedCap', 'keepFor', 'clock', 'floor'] as const;
const keysOf = (client: string, nonce: string): string[] => [nonceKeyOf(client, nonce), rateLimitKey(client), refusedKey(client), epochKey(client), refusedUpToKey(client)];

// The rules R1-R4 of admission.ts, for one atomic round trip.
const ADMIT = `${luaPrelude(ADMIT_EXTRA)}
local nonceKey, acceptedKey, refusedKey, epochKey, refusedUpToKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = tonumber(x.clock)
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- R4: forgotten, stale, future. The floor is when this instance last saw a new Redis answer: an
-- epoch older than that is moved here, in the same atomic step as the decision it governs.
local epoch = tonumber(redis.call('GET', epochKey))
local floor = tonumber(x.floor)
if not epoch then
  epoch = now
  redis.call('SET', epochKey, now)
elseif floor and epoch < floor then
  epoch = floor
  redis.call('SET', epochKey, floor)
end
local ttl = r.nonceTtlMs
if r.ts then
  if r.ts * 1000 < epoch then return {KIND.forgotten, 0, 0} end
  local seconds = math.floor(now / 1000)
  if r.ts < seconds - r.pastSeconds then return {KIND.stale, 0, 0} end
  if r.ts > seconds + r.futureSeconds then return {KIND.future, 0, 0} end
  ttl = math.max(1000, (r.ts + tonumber(x.keepFor) + 1) * 1000 - now)
end
-- R1: a replay.
if not redis.call('SET', nonceKey, '1', 'NX', 'PX', ttl) then
  return {KIND.replayed, 0, 0}
end
-- R3 past the cap: stamped at or before a refused request that was not held.
local upTo = tonumber(redis.call('GET', refusedUpToKey))
if r.ts and upTo and r.ts <= upTo then
  redis.call('DEL', nonceKey)
  return {KIND.limited, 0, math.max(1000, (upTo + 1) * 1000 - now)}
end
-- R2: the limit.
redis.call('ZREMRANGEBYSCORE', acceptedKey, '-inf', now - r.windowMs)
local count = redis.call('ZCARD', acceptedKey)
local allowed = false
if count < r.limit then
  redis.call('ZADD', acceptedKey, now, r.nonceKey)
  redis.call('PEXPIRE', acceptedKey, r.windowMs)
  count = count + 1
  allowed = true
end
local oldest = redis.call('ZRANGE', acceptedKey, 0, 0, 'WITHSCORES')
local reset = r.windowMs
if oldest[2] then reset = tonumber(oldest[2]) + r.windowMs - now end
-- R3: a refused nonce is held only if a slot frees before its token goes stale, up to the cap.
if not allowed then
  local keep = false
  if reset < ttl then
    redis.call('ZREMRANGEBYSCORE', refusedKey, '-inf', now)
    if redis.call('ZCARD', refusedKey) < tonumber(x.refusedCap) then
      redis.call('ZADD', refusedKey, now + ttl, r.nonceKey)
      if redis.call('PTTL', refusedKey) < ttl then redis.call('PEXPIRE', refusedKey, ttl) end
      keep = true
    elseif r.ts then
      -- Newer than any stamp kept (older ones were answered above), and kept as long as its token.
      redis.call('SET', refusedUpToKey, r.ts, 'PX', ttl)
    end
  end
  if not keep then redis.call('DEL', nonceKey) end
  return {KIND.limited, 0, reset}
end
return {KIND.allowed, math.max(0, r.limit - count), reset}
`;

// ARGV[1]: 'second' (start, reload) or 'now' (after a reconnect, which may follow a loss), each
// only where no epoch is; or 'reset': a different Redis now answers (a failover, a restart) and
// may lack the last writes of the one before, so nothing stamped before now can be checked.
const EPOCH = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[1] == 'second' then now = math.floor(now / 1000) * 1000 end
if ARGV[1] == 'reset' then
  redis.call('SET', KEYS[1], now)
else
  redis.call('SET', KEYS[1], now, 'NX')
end
return 0
`;

// An accepted request that too few replicas acknowledged is taken back off the count (its nonce
// stays, so the token is never accepted later): the client's retry, sealed afresh, is not charged
// twice for one outage.
const UNDO = `redis.call('ZREM', KEYS[1], ARGV[1]) return 0`;

type EpochMode = 'second' | 'now' | 'reset';
const EPOCH_SLICE = 1000;

type RedisStoreOptions = {
  readonly url: string;
  /** Replicas that must hold an accepted request before it is answered (default: the URL's replicaAcks). */
  readonly replicaAcks?: number;
  /** A command that takes longer fails (default 200 ms). */
  readonly commandTimeoutMs?: number;
  /** Consecutive failures that open the circuit (default 3). */
  readonly failureThreshold?: number;
  /** How long an open circuit fails fast before one trial command (default 1000 ms). */
  readonly cooldownMs?: number;
  readonly now?: () => number;
  /** Tests only: the time (ms) the admission script uses instead of Redis's TIME. */
  readonly clock?: () => number;
};

type WithAdmit = (Redis | Cluster) & {
  psimbolsAdmit(...keysThenArgv: (string | number)[]): Promise<unknown>;
  psimbolsEpoch(epoch: string, mode: EpochMode): Promise<number>;
  psimbolsUndo(accepted: string, member: string): Promise<number>;
};
type AdmitPipeline = { psimbolsAdmit(...keysThenArgv: (string | number)[]): AdmitPipeline; wait(replicas: number, ms: number): AdmitPipeline; exec(): Promise<[Error | null, unknown][] | null> };

const rateLimitKey = (client: string): string => `psimbols:rl:{${client}}`;
const nonceKeyOf = (client: string, nonce: string): string => `psimbols:nonce:{${client}}:${nonce}`;
const refusedKey = (client: string): string => `psimbols:rn:{${client}}`;
const epochKey = (client: string): string => `psimbols:epoch:{${client}}`;
const refusedUpToKey = (client: string): string => `psimbols:rf:{${client}}`;

export class RedisAdmissionStore implements AdmissionStore {
  readonly #redis: WithAdmit;
  readonly #threshold: number;
  readonly #commandTimeoutMs: number;
  readonly #cooldownMs: number;
  readonly #now: () => number;
  readonly #clock: (() => number) | undefined;
  readonly #acks: number;
  readonly #db: number;
  #failures = 0;
  #openUntil = 0;
  readonly #clients = new Set<string>();
  // Each master's run id and replication id, from the last connection; undefined before the first.
  #identities: Map<string, string> | undefined;
  #evicting: readonly string[] = [];
  // Redis's time (ms) when a Redis this store had not seen before last answered: every admission
  // moves its client's epoch to at least this, so none is decided on an epoch not yet moved.
  #floor: number | undefined;
  #settling: Promise<void> | undefined;

  constructor(o: RedisStoreOptions) {
    this.#threshold = o.failureThreshold ?? 3;
    this.#cooldownMs = o.cooldownMs ?? 1000;
    this.#now = o.now ?? Date.now;
    this.#clock = o.clock;
    this.#commandTimeoutMs = o.commandTimeoutMs ?? 200;
    const parsed = parseStoreUrl(o.url);
    if (parsed === undefined || parsed.kind === 'memory') throw new PsimbolsError('config_invalid', 'not a Redis URL');
    this.#acks = o.replicaAcks ?? parsed.replicaAcks;
    this.#db = parsed.kind === 'cluster' ? 0 : parsed.db;
    const redis = connect(parsed, this.#commandTimeoutMs);
    redis.on('error', () => undefined);
    // defineCommand runs EVALSHA and reloads the script with EVAL on NOSCRIPT.
    redis.defineCommand('psimbolsAdmit', { numberOfKeys: 5, lua: ADMIT });
    redis.defineCommand('psimbolsEpoch', { numberOfKeys: 1, lua: EPOCH });
    redis.defineCommand('psimbolsUndo', { numberOfKeys: 1, lua: UNDO });
    this.#redis = redis as WithAdmit;
    // Admissions wait for the check: none may reach a new Redis before its epochs are moved.
    const connected = (): void => {
      const settling = this.#connected().catch(() => undefined);
      this.#settling = settling;
      void settling.then(() => {
        if (this.#settling === settling) this.#settling = undefined;
      });
    };
    redis.on('ready', connected);
    // A refresh of the slots may name new masters; before the cluster is ready, asking its nodes
    // would fail the cluster's own ready check.
    if (redis instanceof Cluster) redis.on('refresh', () => redis.status === 'ready' && connected());
  }

  // On every connection: a Redis (or a Cluster master) this store has not seen answer before may
  // lack what the one before knew, so every epoch moves to now: at once for this instance's own
  // admissions (the floor), and in Redis for every client, in the background, for instances that
  // did not see the change. Otherwise only missing epochs are written, in case the same Redis
  // lost its data. Admissions wait for the identity check alone, which is bounded: a Cluster node
  // that is down keeps the question queued until it is back.
  async #connected(): Promise<void> {
    const seen = this.#identities;
    const now = await withTimeout(identities(this.#redis), this.#commandTimeoutMs).catch(() => undefined);
    if (now !== undefined) [this.#identities, this.#evicting] = [now.ids, now.evicting];
    if (seen === undefined) return;
    const changed = now !== undefined && [...now.ids].some(([node, id]) => seen.get(node) !== id);
    if (changed) this.#floor = Math.max(this.#floor ?? 0, now.timeMs);
    void this.#writeEpochs([...this.#clients], changed ? 'reset' : 'now').catch(() => undefined);
  }

  // In slices, each sent once the last is answered: 50,000 commands at once would leave the last
  // ones waiting past their timeout behind the others.
  async #writeEpochs(clients: readonly string[], mode: EpochMode): Promise<void> {
    for (let i = 0; i < clients.length; i += EPOCH_SLICE) {
      await Promise.all(clients.slice(i, i + EPOCH_SLICE).map((c) => this.#redis.psimbolsEpoch(epochKey(c), mode)));
    }
  }

  /** Writes the epoch of each client new to this instance (see the comment at the top). */
  async prepare(clients: readonly string[]): Promise<void> {
    const added = clients.filter((c) => !this.#clients.has(c));
    for (const c of added) this.#clients.add(c);
    await this.#writeEpochs(added, 'second');
  }

  /**
   * Resolves once connected (or rejects after the timeout); serving does not need to wait. A
   * database this Redis does not have is a usage error: ioredis would go on in database 0.
   */
  async ready(timeoutMs = 2000): Promise<void> {
    if (this.#redis.status !== 'ready') await this.#firstReady(timeoutMs);
    if (this.#db > 0 && !(this.#redis instanceof Cluster)) await this.#checkDatabase();
    // The 'ready' listener is checking the identities of this first connection: wait for that.
    await this.#settling;
  }

  /** Masters whose maxmemory-policy may evict keys when full, as "host:port (policy)": one could forget a nonce. */
  get evicting(): readonly string[] {
    return this.#evicting;
  }

  async #checkDatabase(): Promise<void> {
    const redis = this.#redis as Redis;
    try {
      await redis.select(this.#db);
    } catch (e) {
      const count = await redis.config('GET', 'databases').then((r) => String((r as unknown[])[1] ?? '?'), () => '?');
      throw new PsimbolsError('usage', `the store URL (--store, or "store" in the config) names database ${this.#db}, which this Redis does not have (it has ${count}: 0 to ${Number(count) - 1}): ${errorMessage(e)}`, { cause: e });
    }
  }

  #firstReady(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new PsimbolsError('store_unavailable', 'redis did not become ready')), timeoutMs);
      this.#redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async admit(r: AdmissionRequest): Promise<Admission> {
    if (this.#settling !== undefined) await this.#settling;
    const now = this.#now();
    if (this.#failures >= this.#threshold && now < this.#openUntil) throw new PsimbolsError('store_unavailable', 'circuit open');
    let admission: Admission;
    try {
      admission = await this.#admitOnce(r);
    } catch (e) {
      this.#failures++;
      if (this.#failures >= this.#threshold) this.#openUntil = this.#now() + this.#cooldownMs;
      throw e instanceof PsimbolsError ? e : new PsimbolsError('store_unavailable', errorMessage(e), { cause: e });
    }
    this.#failures = 0;
    return admission;
  }

  // With replicaAcks, the script and a WAIT go in one pipeline: one connection to one master, so
  // the WAIT counts the replicas that hold this script's writes, and no other Redis's.
  async #admitOnce(r: AdmissionRequest): Promise<Admission> {
    const keys = keysOf(r.client, r.nonceKey);
    const argv = luaArgv({ ...r, nonceTtlMs: Math.max(1, Math.ceil(r.nonceTtlMs)) }, [Math.min(r.limit, REFUSED_NONCES), MAX_WINDOW_SECONDS, this.#clock ? this.#clock() : '', this.#floor ?? '']);
    let reply: unknown;
    let acked = Infinity;
    if (this.#acks === 0) {
      reply = await this.#bounded(this.#redis.psimbolsAdmit(...keys, ...argv));
    } else {
      // Within the command timeout, with room for the answer to come back.
      const waitMs = Math.max(1, Math.floor(this.#commandTimeoutMs * 0.75));
      const pipeline = (this.#redis.pipeline() as unknown as AdmitPipeline).psimbolsAdmit(...keys, ...argv).wait(this.#acks, waitMs);
      const [admitted, waited] = (await this.#bounded(pipeline.exec())) ?? [];
      if (admitted?.[0]) {
        // ioredis follows a MOVED in a Cluster pipeline only when every command got it; WAIT,
        // which has no key, gets an error of its own from a master turned replica.
        if (this.#redis instanceof Cluster) this.#redis.refreshSlotsCache();
        throw admitted[0];
      }
      reply = admitted?.[1];
      const count = Number(waited?.[1]);
      acked = waited?.[0] || !Number.isInteger(count) ? 0 : count;
    }
    const fields: readonly unknown[] = Array.isArray(reply) ? reply : [];
    const admission = decodeAnswer([fields[0], r.limit, fields[1], fields[2]]);
    if (admission === undefined) throw new PsimbolsError('store_unavailable', `the admission script answered ${JSON.stringify(reply)}`);
    if (admission.kind === 'allowed' && acked < this.#acks) {
      await this.#redis.psimbolsUndo(rateLimitKey(r.client), r.nonceKey).catch(() => undefined);
      throw new PsimbolsError('store_unavailable', `${acked} of the ${this.#acks} replicas that must hold an accepted request (replicaAcks) acknowledged it`);
    }
    return admission;
  }

  // A Cluster retries a command through redirections and a cluster that is down, for a second or
  // more; the command timeout bounds each try, this the whole.
  #bounded<T>(p: Promise<T>): Promise<T> {
    return this.#redis instanceof Cluster ? withTimeout(p, this.#commandTimeoutMs) : p;
  }

  health(): StoreHealth {
    return { store: 'redis', reachable: this.#redis.status === 'ready' && this.#failures < this.#threshold };
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}

// Fail fast: no offline queue, no retries of a command, a short command timeout. Reconnects go
// on in the background. Auto-pipelining sends the scripts of all requests that arrived in one
// turn of the event loop in one write, which cut Redis's CPU per request under load by a third
// or more. Every key of one client has its id as hash tag, so a Cluster runs each script on one
// node.
function connect(parsed: Exclude<StoreUrl, { kind: 'memory' }>, commandTimeout: number): Redis | Cluster {
  const options: RedisOptions = {
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 0,
    commandTimeout,
    connectTimeout: 1000,
    retryStrategy: (times) => Math.min(100 * times, 1000),
    // A master turned replica answers READONLY: find the master again.
    reconnectOnError: (e) => e.message.startsWith('READONLY'),
  };
  const auth = (a: { tls: boolean; username?: string; password?: string }): RedisOptions => ({ username: a.username, password: a.password, tls: a.tls ? {} : undefined });
  switch (parsed.kind) {
    case 'cluster': {
      // Only the cluster as a whole fails fast: its nodes need their offline queue while they
      // connect (ioredis#581).
      const { enableOfflineQueue: _queue, retryStrategy: _retry, ...node } = options;
      const cluster: ClusterOptions = { enableOfflineQueue: false, enableAutoPipelining: true, clusterRetryStrategy: (times) => Math.min(100 * times, 1000), redisOptions: { ...node, ...auth(parsed) } };
      return new Cluster(parsed.nodes.map((n) => ({ ...n })), cluster);
    }
    case 'sentinel':
      return new Redis({ ...options, ...auth(parsed), sentinels: parsed.sentinels.map((n) => ({ ...n })), name: parsed.name, db: parsed.db, sentinelPassword: parsed.sentinelPassword, sentinelRetryStrategy: (times) => Math.min(100 * times, 1000), failoverDetector: true });
    case 'redis':
      return new Redis(parsed.url, options);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new PsimbolsError('store_unavailable', 'redis did not answer in time')), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

const INFO_FIELD = (info: string, field: string): string => new RegExp(`^${field}:(\\S+)`, 'm').exec(info)?.[1] ?? '';

/**
 * Which Redis processes answer, and as which replication history (host:port of each master to
 * "run_id/replid"), and the latest of their clocks, in ms.
 */
async function identities(redis: Redis | Cluster): Promise<{ ids: Map<string, string>; timeMs: number; evicting: string[] }> {
  const masters = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const answers = await Promise.all(
    masters.map(async (node) => {
      const [info, [seconds = '0', micros = '0']] = await Promise.all([node.info(), node.time()]);
      const where = `${node.options.host ?? ''}:${node.options.port ?? ''}`;
      const id = [where, `${INFO_FIELD(info, 'run_id')}/${INFO_FIELD(info, 'master_replid')}`] as const;
      // Every key psimbols writes expires, so volatile-* policies evict them as allkeys-* do.
      const policy = INFO_FIELD(info, 'maxmemory_policy');
      return { id, timeMs: Number(seconds) * 1000 + Math.floor(Number(micros) / 1000), evicting: policy !== '' && policy !== 'noeviction' ? `${where} (${policy})` : undefined };
    }),
  );
  return { ids: new Map(answers.map((a) => a.id)), timeMs: Math.max(...answers.map((a) => a.timeMs)), evicting: answers.flatMap((a) => a.evicting ?? []) };
}
