import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { request, sealCall } from '../src/client/client.js';
import { parseClientConfig } from '../src/config/client-config.js';
import { addClient, finishRotation, removeClient, rotateKey } from '../src/config/edits.js';
import { emptyServerConfig, parseServerConfig } from '../src/config/server-config.js';
import { updateServerConfig } from '../src/config/store.js';
import { PsimbolsError } from '../src/errors.js';
import { sealRequest } from '../src/protocol/envelope.js';
import { generateKeySpec, prepareKey, type V2Key } from '../src/protocol/keys.js';
import { post, startTestServer, tempDir, type TestServer } from './helpers/server.js';

// Property-based fuzzing through the whole request path and the config parsers. The seed is
// printed by fast-check on failure; set FC_SEED to replay one. npm test runs a share of each
// property's runs (PSIMBOLS_FUZZ_SCALE, 0.3 by default) so that the suite stays quick; npm run
// stress, which CI runs, runs them all twice over (scale 2).

const ALLOWED = new Set([200, 400, 401, 413, 429]);
const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;
const scale = Number(process.env.PSIMBOLS_FUZZ_SCALE ?? 0.3);
const params = (numRuns: number) => ({ numRuns: Math.max(20, Math.round(numRuns * scale)), ...(seed === undefined ? {} : { seed }) });

describe('fuzzing the request path', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      config: { limits: { failedAuthPerIp: 1_000_000 } },
      clients: { alice: { keys: [generateKeySpec()], requestsPerHour: 1_000_000 } },
    });
  });
  after(() => t.close());

  const valid = () => sealCall(t.client('alice'), 'supermath', 'factorial', { n: 3 }).outer;

  test('random JSON bodies only ever get 200, 400, 401, 413 or 429', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const r = await post(t.url, value);
        assert.ok(ALLOWED.has(r.status), `status ${r.status} for ${JSON.stringify(value).slice(0, 200)}`);
      }),
      params(300),
    );
  });

  test('random strings as bodies, and as fields of a valid body', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 400 }), fc.constantFrom('body', 'client', 'server', 'request'), async (s, where) => {
        const body = where === 'body' ? s : { ...valid(), [where]: s };
        const r = await post(t.url, body);
        assert.ok(ALLOWED.has(r.status), `status ${r.status}`);
        if (where !== 'body') assert.equal(r.status, 401);
      }),
      params(300),
    );
  });

  test('mutated tokens (flipped, cut, spliced, re-encoded) are all refused with 401', async () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), text: fc.string({ minLength: 1, maxLength: 8 }) }),
      fc.record({ kind: fc.constant('base64' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        const outer = valid();
        const body = outer.request.slice(4);
        let token: string;
        switch (m.kind) {
          case 'flip': {
            const raw = Buffer.from(body, 'base64url');
            raw[m.at % raw.length]! ^= 1 << m.bit;
            token = `ps2.${raw.toString('base64url')}`;
            break;
          }
          case 'cut':
            token = outer.request.slice(0, m.at % outer.request.length);
            break;
          case 'splice': {
            const at = 4 + (m.at % body.length);
            token = `${outer.request.slice(0, at)}${m.text}${outer.request.slice(at)}`;
            break;
          }
          case 'base64':
            token = `ps2.${Buffer.from(body, 'base64url').toString('base64')}`;
            if (token === outer.request) return; // no +, / or = happened to appear
            break;
        }
        const r = await post(t.url, { ...outer, request: token });
        assert.equal(r.status, 401);
      }),
      params(400),
    );
  });

  test('authenticated plaintexts of any shape get a 200 with an error, or a 401; never a 500', async () => {
    const config = t.client('alice');
    const key = prepareKey(config.key) as V2Key;
    const plaintext = fc.oneof(
      fc.jsonValue(),
      fc.record({
        request_id: fc.oneof(fc.string(), fc.integer()),
        run: fc.record({ module: fc.oneof(fc.constant('supermath'), fc.string()), function: fc.oneof(fc.constantFrom('factorial', 'gcd', 'is_prime'), fc.string()), params: fc.jsonValue() }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(plaintext, async (message) => {
        const token = sealRequest(message as never, { client: 'alice', server: config.server, key });
        const r = await post(t.url, { client: 'alice', server: config.server, request: token });
        assert.ok(r.status === 200 || r.status === 401, `status ${r.status}`);
      }),
      params(300),
    );
    // After all of it, a valid request still works.
    const r = await request(t.client('alice'), 'supermath', 'factorial', { n: 5 }, { endpoint: t.url });
    assert.deepEqual('return' in r && r.return, { value: 120, comment: '5! = 120' });
    assert.equal(t.access.filter((a) => a.status >= 500).length, 0);
  });
});

describe('fuzzing the config edits', () => {
  // Ids that are also names every JavaScript object inherits, among ordinary ones.
  const ids = fc.constantFrom('constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'a', 'b-1', '0');
  const step = fc.oneof(
    fc.record({ op: fc.constant('add' as const), id: ids, force: fc.boolean() }),
    fc.record({ op: fc.constantFrom('remove' as const, 'rotate' as const, 'finish' as const), id: ids }),
  );

  test('add, remove, rotate and finish agree with a Map model for every valid id, and the result survives a parse', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), (steps) => {
        let config = emptyServerConfig();
        const model = new Map<string, number>();
        for (const s of steps) {
          const has = model.has(s.id);
          try {
            if (s.op === 'add') config = addClient(config, s.id, { key: generateKeySpec() }, s.force);
            else if (s.op === 'remove') config = removeClient(config, s.id);
            else if (s.op === 'rotate') config = rotateKey(config, s.id, generateKeySpec());
            else config = finishRotation(config, s.id);
          } catch (e) {
            const expected = s.op === 'add' ? 'client_exists' : 'client_not_found';
            assert.ok(e instanceof PsimbolsError && e.code === expected && (s.op === 'add' ? has && !s.force : !has), `${s.op} ${s.id}: ${String(e)}`);
            continue;
          }
          if (s.op === 'add') model.set(s.id, 1);
          else if (s.op === 'remove') model.delete(s.id);
          else if (s.op === 'rotate') model.set(s.id, (model.get(s.id) ?? 0) + 1);
          else model.set(s.id, 1);
        }
        const reparsed = parseServerConfig(JSON.parse(JSON.stringify(config)), 'fuzz.json');
        assert.deepEqual(new Map(Object.entries(reparsed.clients).map(([id, c]) => [id, c.keys.length])), model);
      }),
      params(500),
    );
  });
});

describe('fuzzing the config parsers', () => {
  test('random JSON never crashes the parsers: it parses or it is config_invalid', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        for (const parse of [parseServerConfig, parseClientConfig]) {
          try {
            parse(value, 'fuzz.json');
          } catch (e) {
            assert.ok(e instanceof PsimbolsError && e.code === 'config_invalid', String(e));
            assert.match(e.message, /^fuzz\.json: /);
          }
        }
      }),
      params(2000),
    );
  });

  test('random near-valid server configs never crash the parser', () => {
    const key = generateKeySpec();
    const nearValid = fc.record({
      listen: fc.oneof(fc.jsonValue(), fc.record({ host: fc.string(), port: fc.integer({ min: -10, max: 70000 }) })),
      clients: fc.dictionary(fc.string({ maxLength: 70 }), fc.oneof(fc.jsonValue(), fc.record({ keys: fc.constant([key]), requestsPerHour: fc.integer(), allow: fc.array(fc.string()) }))),
    });
    fc.assert(
      fc.property(nearValid, (value) => {
        try {
          parseServerConfig(value, 'fuzz.json');
        } catch (e) {
          assert.ok(e instanceof PsimbolsError && e.code === 'config_invalid', String(e));
        }
      }),
      params(1000),
    );
  });

  test('a file of random JSON is never written to: an invalid file is left byte for byte', async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, 'server.json');
      await fc.assert(
        fc.asyncProperty(fc.jsonValue(), async (value) => {
          const text = JSON.stringify(value) ?? 'null';
          await writeFile(path, text, { mode: 0o600 });
          const before = await stat(path);
          try {
            await updateServerConfig(path, (c) => addClient(c, 'fuzz', { key: generateKeySpec() }), emptyServerConfig);
          } catch (e) {
            assert.ok(e instanceof PsimbolsError && e.code === 'config_invalid', String(e));
            assert.equal(await readFile(path, 'utf8'), text);
            assert.equal((await stat(path)).ino, before.ino, 'not replaced');
          }
        }),
        params(200),
      );
    } finally {
      await dir.remove();
    }
  });
});
