import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { AdmissionRequest, AdmissionStore } from '../src/server/admission/admission.js';
import { MemoryAdmissionStore } from '../src/server/admission/memory-store.js';
import { ANSWER_KINDS, decodeAnswer, decodeRequest, encodeAnswer, encodeRequest, luaPrelude, REQUEST_FIELDS } from '../src/server/admission/codec.js';
import { FailoverAdmissionStore } from '../src/server/admission/failover-store.js';
import { silentLogger } from '../src/server/observe/log.js';
import { RedisAdmissionStore } from '../src/server/admission/redis-store.js';
import { PsimbolsError } from '../src/errors.js';
import { redisMissing, startRedis, type TestRedis } from './helpers/redis.js';
import { startCluster, startSentinel, type Topology } from './helpers/redis-topologies.js';
import { answer, PrimaryLink } from '../src/server/cluster/primary-link.js';
import { encodeFromWorker, encodeToWorker, parseFromWorker, parseToWorker } from '../src/server/cluster/messages.js';
import { FailureLimiter } from '../src/server/admission/failure-limiter.js';
import { fakeClock } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

// One conformance suite, run against every store, so that the memory and Redis stores cannot
// drift apart. Real time with short windows: Redis takes its time from TIME, not from us.

// Time is a fake clock for both stores (Redis's script takes the test's clock instead of TIME);
// only the expiry of Redis keys runs on real time, and that is waited for as an event.
type Factory = {
  name: string;
  skip: string | undefined;
  setup(now: () => number): Promise<AdmissionStore>;
  /** Until a nonce with a 100 ms lifetime is forgotten. */
  forget(clock: { advance: (ms: number) => void }, admit: () => Promise<boolean>): Promise<boolean>;
  teardown(): Promise<void>;
};

const missing = redisMissing();
let redis: TestRedis | undefined;

/** A Redis store on a topology started for the suite (a Cluster, or Sentinel with a replica). */
function topologyFactory(name: string, startTopology: () => Promise<Topology>): Factory {
  let topology: Topology | undefined;
  return {
    name,
    skip: missing,
    setup: async (now) => {
      topology = await startTopology();
      const store = new RedisAdmissionStore({ url: topology.url, clock: now, commandTimeoutMs: 2000 });
      await store.ready(10_000);
      return store;
    },
    forget: (_clock, admit) => eventually(admit),
    teardown: async () => topology?.remove(),
  };
}

/** JSON as a channel carries it: what the other end receives is unknown until parsed. */
const overIpc = (value: object): unknown => JSON.parse(JSON.stringify(value));

/** The memory store behind a primary, asked as a worker asks: each message encoded, through JSON, and parsed, as over IPC. */
function primaryLinkFactory(): Factory {
  return {
    name: 'memory, asked by a cluster worker (serve --workers)',
    skip: undefined,
    setup: async (now) => {
      const memory = new MemoryAdmissionStore({ now, sweep: false });
      const failures = new FailureLimiter({ limit: 100, windowMs: 60_000 }, now);
      const link: PrimaryLink = new PrimaryLink((asks) => {
        const received = parseFromWorker(overIpc(encodeFromWorker(asks)));
        assert.equal(received?.psimbols, 'asks');
        if (received?.psimbols !== 'asks') return;
        void answer(received, memory, failures).then((answers) => {
          const back = parseToWorker(overIpc(encodeToWorker(answers)));
          if (back?.psimbols === 'answers') link.receive(back);
        });
      });
      return link;
    },
    forget: async (clock, admit) => {
      clock.advance(1100);
      return admit();
    },
    teardown: async () => undefined,
  };
}

const factories: Factory[] = [
  {
    name: 'memory',
    skip: undefined,
    setup: async (now) => new MemoryAdmissionStore({ now, sweep: false }),
    forget: async (clock, admit) => {
      clock.advance(1100);
      return admit();
    },
    teardown: async () => undefined,
  },
  {
    name: 'redis',
    skip: missing,
    setup: async (now) => {
      redis ??= await startRedis();
      const store = new RedisAdmissionStore({ url: redis.url, clock: now, commandTimeoutMs: 2000 });
      await store.ready();
      return store;
    },
    forget: (_clock, admit) => eventually(admit),
    teardown: async () => {
      await redis?.remove();
    },
  },
  topologyFactory('redis cluster (three masters)', startCluster),
  topologyFactory('redis sentinel (a master and a replica)', startSentinel),
  primaryLinkFactory(),
];

const req = (client: string, o: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  client,
  nonceKey: randomUUID(),
  nonceTtlMs: 10_000,
  limit: 3,
  windowMs: 60_000,
  ts: undefined,
  pastSeconds: 300,
  futureSeconds: 60,
  ...o,
});

for (const f of factories) {
  describe(`admission store conformance: ${f.name}`, { skip: f.skip }, () => {
    let store: AdmissionStore;
    const clock = fakeClock();
    before(async () => {
      store = await f.setup(clock.now);
    });
    after(async () => {
      await store.close();
      await f.teardown();
    });
    const client = () => `c-${randomUUID().slice(0, 8)}`;

    test('allows N with remaining counting down, then limits', async () => {
      const c = client();
      const kinds = [];
      for (let i = 0; i < 4; i++) kinds.push(await store.admit(req(c)));
      assert.deepEqual(kinds.map((k) => k.kind), ['allowed', 'allowed', 'allowed', 'limited']);
      assert.deepEqual(kinds.map((k) => ('remaining' in k ? k.remaining : -1)), [2, 1, 0, 0]);
      const last = kinds[3]!;
      assert.ok(last.kind === 'limited' && last.resetMs > 59_000 && last.resetMs <= 60_000, JSON.stringify(last));
    });

    test('a replay is refused and does not consume quota', async () => {
      const c = client();
      const first = req(c);
      assert.equal((await store.admit(first)).kind, 'allowed');
      assert.equal((await store.admit(first)).kind, 'replayed');
      assert.equal((await store.admit(first)).kind, 'replayed');
      const next = await store.admit(req(c));
      assert.ok(next.kind === 'allowed' && next.remaining === 1);
    });

    test('the nonce of a limited request is recorded when a slot frees before the token goes stale', async () => {
      const c = client();
      const o = { limit: 1, windowMs: 5_000, nonceTtlMs: 10_000 };
      const r = req(c, o);
      assert.equal((await store.admit(req(c, o))).kind, 'allowed');
      assert.equal((await store.admit(r)).kind, 'limited');
      assert.equal((await store.admit(r)).kind, 'replayed');
    });

    test('the nonce of a limited request is not kept when no slot frees before the token goes stale', async () => {
      const c = client();
      const o = { limit: 1, windowMs: 60_000, nonceTtlMs: 10_000 };
      const r = req(c, o);
      assert.equal((await store.admit(req(c, o))).kind, 'allowed');
      assert.equal((await store.admit(r)).kind, 'limited');
      assert.equal((await store.admit(r)).kind, 'limited');
    });

    test('a limited client keeps at most min(limit, 1000) refused nonces beyond its accepted ones', async () => {
      const c = client();
      const o = { limit: 2, windowMs: 5_000, nonceTtlMs: 10_000 };
      for (let i = 0; i < 2; i++) assert.equal((await store.admit(req(c, o))).kind, 'allowed');
      const refused = Array.from({ length: 10 }, () => req(c, o));
      for (const r of refused) assert.equal((await store.admit(r)).kind, 'limited');
      const again = [];
      for (const r of refused) again.push((await store.admit(r)).kind);
      assert.deepEqual(again, ['replayed', 'replayed', ...Array(8).fill('limited')]);
    });

    test('past the cap of refused nonces, a refused request is still never accepted later; a fresh one is', async () => {
      const c = client();
      // A shared store remembers a client from its start (its epoch, on Redis's own clock), as serve
      // prepares it; the fake clock must not be behind that, as a topology's start-up may leave it.
      await store.prepare([c], { pastSeconds: 300, futureSeconds: 60 });
      clock.set(Math.max(clock.now(), Date.now() + 1000));
      const ts = Math.floor(clock.now() / 1000);
      const o = { limit: 2, windowMs: 5_000, nonceTtlMs: 30_000, ts };
      for (let i = 0; i < 2; i++) assert.equal((await store.admit(req(c, o))).kind, 'allowed');
      const refused = Array.from({ length: 10 }, () => req(c, o));
      for (const r of refused) assert.equal((await store.admit(r)).kind, 'limited');
      clock.advance(5_000);
      const again = [];
      for (const r of refused) again.push((await store.admit(r)).kind);
      assert.deepEqual(again.filter((k) => k === 'allowed'), [], again.join(' '));
      assert.equal((await store.admit(req(c, { ...o, ts: ts + 5 }))).kind, 'allowed', 'a fresh request, stamped later');
    });

    test('clients are limited separately', async () => {
      const a = client();
      const b = client();
      for (let i = 0; i < 3; i++) await store.admit(req(a));
      assert.equal((await store.admit(req(a))).kind, 'limited');
      assert.equal((await store.admit(req(b))).kind, 'allowed');
    });

    test('a slot frees one window after the oldest accepted request, to the millisecond', async () => {
      const c = client();
      const o = { limit: 2, windowMs: 60_000 };
      assert.equal((await store.admit(req(c, o))).kind, 'allowed');
      clock.advance(30_000);
      assert.equal((await store.admit(req(c, o))).kind, 'allowed');
      assert.equal((await store.admit(req(c, o))).kind, 'limited');
      clock.advance(29_999);
      assert.equal((await store.admit(req(c, o))).kind, 'limited');
      clock.advance(1);
      const freed = await store.admit(req(c, o));
      assert.equal(freed.kind, 'allowed');
      assert.equal((await store.admit(req(c, o))).kind, 'limited');
    });

    test('a nonce is forgotten after its lifetime', async () => {
      const c = client();
      const r = req(c, { nonceTtlMs: 100 });
      assert.equal((await store.admit(r)).kind, 'allowed');
      assert.equal((await store.admit(r)).kind, 'replayed');
      assert.equal(await f.forget(clock, async () => (await store.admit(r)).kind === 'allowed'), true);
    });

    test('2N concurrent admissions give exactly N', async () => {
      const c = client();
      const results = await Promise.all(Array.from({ length: 40 }, () => store.admit(req(c, { limit: 20 }))));
      assert.equal(results.filter((r) => r.kind === 'allowed').length, 20);
      assert.equal(results.filter((r) => r.kind === 'limited').length, 20);
    });

    test('a lowered limit applies at once', async () => {
      const c = client();
      for (let i = 0; i < 3; i++) await store.admit(req(c, { limit: 5 }));
      const d = await store.admit(req(c, { limit: 2 }));
      assert.ok(d.kind === 'limited' && d.remaining === 0);
    });
  });
}

describe('store URLs: replicaAcks', () => {
  test('defaults to 1 where a replica takes over (Sentinel, Cluster) and 0 for one Redis; the query can set it', async () => {
    const { parseStoreUrl } = await import('../src/config/urls.js');
    const acks = (u: string): number | undefined => {
      const p = parseStoreUrl(u);
      return p && p.kind !== 'memory' ? p.replicaAcks : undefined;
    };
    assert.deepEqual(['redis://h:1/0', 'redis+sentinel://s/m', 'redis+cluster://a:1,b:2'].map(acks), [0, 1, 1]);
    assert.deepEqual(['redis://h:1/0?replicaAcks=2', 'redis+sentinel://s/m/0?sentinelPassword=x&replicaAcks=0', 'redis+cluster://a:1?replicaAcks=0'].map(acks), [2, 0, 0]);
    // ioredis reads a redis:// query itself: ours is taken out, the rest stays.
    assert.deepEqual(parseStoreUrl('redis://h:1/0?family=6&replicaAcks=1'), { kind: 'redis', url: 'redis://h:1/0?family=6', db: 0, replicaAcks: 1 });
    for (const bad of ['redis://h/0?replicaAcks=17', 'redis://h/0?replicaAcks=-1', 'redis+cluster://a?replicaAcks=x', 'redis+cluster://a?other=1', 'redis+sentinel://s/m?unknown=1']) {
      assert.equal(parseStoreUrl(bad), undefined, bad);
    }
  });
});

describe('store URLs in logs', () => {
  test('never show a password', async () => {
    const { redactUrl } = await import('../src/server/admission/create-store.js');
    assert.equal(redactUrl('redis://:s3cret@db.internal:6379/0'), 'redis://:***@db.internal:6379/0');
    assert.equal(redactUrl('rediss://user:pw@h/1'), 'rediss://user:***@h/1');
    assert.equal(redactUrl('memory'), 'memory');
    assert.equal(redactUrl('redis+cluster://:pw@a:1,b:2'), 'redis+cluster://:***@a:1,b:2');
    assert.equal(redactUrl('redis+sentinel://u:pw@s1,s2/m/0?sentinelPassword=x'), 'redis+sentinel://u:***@s1,s2/m/0?sentinelPassword=***');
  });
});

describe('fallback while the shared store is down', () => {
  const down: AdmissionStore = {
    prepare: () => Promise.resolve(),
    admit: () => Promise.reject(new PsimbolsError('store_unavailable', 'connection refused')),
    health: () => ({ store: 'redis', reachable: true }),
    close: () => Promise.resolve(),
  };

  for (const mode of ['local', 'open'] as const) {
    test(`${mode}: a token stamped before the outage cannot be checked and gets store_unavailable; one in flight passes`, async () => {
      let now = 1_000_000_500; // ms: the outage is noticed half-way through second 1 000 000
      const store = new FailoverAdmissionStore(down, mode, silentLogger, () => now);
      const at = (ts: number) => store.admit(req('alice', { ts }));
      assert.equal((await at(1_000_000)).kind, 'allowed');
      assert.equal((await at(999_999)).kind, 'allowed', 'sealed in the second before the outage was noticed');
      await assert.rejects(at(999_998), (e: unknown) => e instanceof PsimbolsError && e.code === 'store_unavailable');
      now += 60_000;
      await assert.rejects(at(999_998), (e: unknown) => e instanceof PsimbolsError && e.code === 'store_unavailable');
      const r = req('alice', { ts: 1_000_060 });
      assert.equal((await store.admit(r)).kind, 'allowed');
      assert.equal((await store.admit(r)).kind, 'replayed', 'a replay within the outage is refused locally');
      await store.close();
    });
  }
});

describe('the admission codec (one table of fields for IPC and Lua)', () => {
  test('every field of a request survives the IPC encoding, the timestamp window included', () => {
    const r = req('alice', { ts: 1_700_000_000, pastSeconds: 42, futureSeconds: 7 });
    assert.deepEqual(decodeRequest(overIpc([...encodeRequest(r)])), r);
    const legacy = req('bob');
    assert.deepEqual(decodeRequest(overIpc([...encodeRequest(legacy)])), legacy, 'a legacy token carries no ts');
    assert.equal(encodeRequest(r).length, REQUEST_FIELDS.length);
  });

  test('every kind of answer survives the encoding', () => {
    for (const kind of ANSWER_KINDS) {
      const a = kind === 'allowed' || kind === 'limited' ? { kind, limit: 5, remaining: 2, resetMs: 1234 } : { kind };
      assert.deepEqual(decodeAnswer(overIpc([...encodeAnswer(a)])), a);
    }
  });

  test('what is not a request or an answer is refused, not trusted', () => {
    assert.equal(decodeRequest(['a', 'n', 1, 1, 1, null, 1]), undefined, 'a field short');
    assert.equal(decodeRequest([1, 'n', 1, 1, 1, null, 1, 1]), undefined, 'a client that is not a string');
    assert.equal(decodeRequest(['a', 'n', '1', 1, 1, null, 1, 1]), undefined, 'a number that is a string');
    assert.equal(decodeAnswer([99, 0, 0, 0]), undefined, 'an unknown kind');
    assert.equal(parseFromWorker({ psimbols: 'asks', admits: [[1, ['a']]], fails: [] }), undefined);
    assert.equal(parseToWorker({ psimbols: 'answers', admits: [[1, [0, 1, 1]]], fails: [] }), undefined);
    assert.equal(parseToWorker({ psimbols: 'nonsense' }), undefined);
  });

  test('the Lua prelude names each field at its position in the table', () => {
    const prelude = luaPrelude(['extra']);
    REQUEST_FIELDS.forEach((f, i) => assert.match(prelude, new RegExp(`r\\.${f} = (tonumber\\()?ARGV\\[${i + 1}\\]`)));
    assert.match(prelude, new RegExp(`x\\.extra = ARGV\\[${REQUEST_FIELDS.length + 1}\\]`));
    ANSWER_KINDS.forEach((k, i) => assert.match(prelude, new RegExp(`KIND\\.${k} = ${i}\\b`)));
  });
});

describe('what a store forgot is the store\'s to refuse', () => {
  test('a memory store refuses a token stamped before it started (before_start), and one stamped since is admitted', async () => {
    const clock = fakeClock(1_000_000_000);
    const store = new MemoryAdmissionStore({ now: clock.now, sweep: false });
    assert.deepEqual(await store.admit(req('alice', { ts: 999_999 })), { kind: 'before_start' });
    assert.equal((await store.admit(req('alice', { ts: 1_000_000 }))).kind, 'allowed');
    assert.equal((await store.admit(req('alice'))).kind, 'allowed', 'a legacy token has no stamp to judge');
  });
});

describe('a cluster worker asking a primary that stops answering', () => {
  test('gets store_unavailable within the deadline for an admission and for a failure count, and asks again afterwards', async () => {
    let answering = false;
    const memory = new MemoryAdmissionStore({ sweep: false });
    const failures = new FailureLimiter({ limit: 100, windowMs: 60_000 });
    const link: PrimaryLink = new PrimaryLink((asks) => {
      if (answering) void answer(asks, memory, failures).then((a) => link.receive(a));
    }, 50);
    const unavailable = (e: unknown) => e instanceof PsimbolsError && e.code === 'store_unavailable';
    await assert.rejects(link.admit(req('alice')), unavailable);
    await assert.rejects(link.record('10.0.0.1'), unavailable);
    answering = true;
    assert.equal((await link.admit(req('alice'))).kind, 'allowed', 'a message given up on does not block the next');
    await link.close();
    await memory.close();
  });
});
