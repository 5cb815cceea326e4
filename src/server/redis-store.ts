import { Redis } from 'ioredis';
import { errorMessage, PsimbolsError } from '../errors.js';
import { REFUSED_NONCES, type Admission, type AdmissionRequest, type AdmissionStore, type StoreHealth } from './admission.js';

// Limits and replays shared by several server instances. One Lua script decides both in one
// round trip: SET NX of the replay key fails for a replay; otherwise the client's sorted set of
// accepted requests is trimmed, counted and added to. A refused request's replay key is deleted
// again unless a slot frees before its token goes stale, and, as in the memory store, a client
// keeps at most min(limit, 1000) refused nonces (a third sorted set, scored by expiry). Scripts
// run atomically, and each redis.call costs about a microsecond of Redis's time, so the common
// path makes as few as it can. Time comes from Redis (TIME), so clocks of instances may drift.

const ADMIT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ttl) then
  return {-1, 0, 0}
end
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[2])
local allowed = 0
if count < limit then
  redis.call('ZADD', KEYS[2], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[2], window)
  count = count + 1
  allowed = 1
end
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local reset = window
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
-- A refused request is remembered only if a slot frees before its token goes stale, and only
-- up to the client's cap of refused nonces.
if allowed == 0 then
  local keep = false
  if reset < ttl then
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
    if redis.call('ZCARD', KEYS[3]) < tonumber(ARGV[5]) then
      redis.call('ZADD', KEYS[3], now + ttl, ARGV[4])
      if redis.call('PTTL', KEYS[3]) < ttl then redis.call('PEXPIRE', KEYS[3], ttl) end
      keep = true
    end
  end
  if not keep then redis.call('DEL', KEYS[1]) end
end
return {allowed, math.max(0, limit - count), reset}
`;

type RedisStoreOptions = {
  readonly url: string;
  /** A command that takes longer fails (default 200 ms). */
  readonly commandTimeoutMs?: number;
  /** Consecutive failures that open the circuit (default 3). */
  readonly failureThreshold?: number;
  /** How long an open circuit fails fast before one trial command (default 1000 ms). */
  readonly cooldownMs?: number;
  readonly now?: () => number;
};

type AdmitReply = [number, number, number];
type WithAdmit = Redis & {
  psimbolsAdmit(nonce: string, accepted: string, refused: string, ttl: number, limit: number, window: number, member: string, refusedCap: number): Promise<AdmitReply>;
};

const rateLimitKey = (client: string): string => `psimbols:rl:{${client}}`;
const nonceKeyOf = (client: string, nonce: string): string => `psimbols:nonce:{${client}}:${nonce}`;
const refusedKey = (client: string): string => `psimbols:rn:{${client}}`;

export class RedisAdmissionStore implements AdmissionStore {
  readonly acceptsFrom = undefined;
  readonly #redis: WithAdmit;
  readonly #threshold: number;
  readonly #cooldownMs: number;
  readonly #now: () => number;
  #failures = 0;
  #openUntil = 0;

  constructor(o: RedisStoreOptions) {
    this.#threshold = o.failureThreshold ?? 3;
    this.#cooldownMs = o.cooldownMs ?? 1000;
    this.#now = o.now ?? Date.now;
    // Fail fast: no offline queue, no retries of a command, a short command timeout. Reconnects
    // go on in the background. Auto-pipelining sends the scripts of all requests that arrived in
    // one turn of the event loop in one write, which cut Redis's CPU per request under load by a
    // third or more.
    const redis = new Redis(o.url, {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      maxRetriesPerRequest: 0,
      commandTimeout: o.commandTimeoutMs ?? 200,
      connectTimeout: 1000,
      retryStrategy: (times) => Math.min(100 * times, 1000),
      lazyConnect: false,
    });
    redis.on('error', () => undefined);
    // defineCommand runs EVALSHA and reloads the script with EVAL on NOSCRIPT.
    redis.defineCommand('psimbolsAdmit', { numberOfKeys: 3, lua: ADMIT });
    this.#redis = redis as WithAdmit;
  }

  /** Resolves once connected (or rejects after the timeout); serving does not need to wait. */
  async ready(timeoutMs = 2000): Promise<void> {
    if (this.#redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new PsimbolsError('store_unavailable', 'redis did not become ready')), timeoutMs);
      this.#redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async admit(r: AdmissionRequest): Promise<Admission> {
    const now = this.#now();
    if (this.#failures >= this.#threshold && now < this.#openUntil) throw new PsimbolsError('store_unavailable', 'circuit open');
    let reply: AdmitReply;
    try {
      const ttl = Math.max(1, Math.ceil(r.nonceTtlMs));
      reply = await this.#redis.psimbolsAdmit(nonceKeyOf(r.client, r.nonceKey), rateLimitKey(r.client), refusedKey(r.client), ttl, r.limit, r.windowMs, r.nonceKey, Math.min(r.limit, REFUSED_NONCES));
    } catch (e) {
      this.#failures++;
      if (this.#failures >= this.#threshold) this.#openUntil = this.#now() + this.#cooldownMs;
      throw new PsimbolsError('store_unavailable', errorMessage(e), { cause: e });
    }
    this.#failures = 0;
    const [allowed, remaining, resetMs] = reply;
    if (allowed === -1) return { kind: 'replayed' };
    return { kind: allowed === 1 ? 'allowed' : 'limited', limit: r.limit, remaining, resetMs };
  }

  health(): StoreHealth {
    return { store: 'redis', reachable: this.#redis.status === 'ready' && this.#failures < this.#threshold };
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
