import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openLegacyRequest, openLegacyResponse, sealLegacyRequest, sealLegacyResponse } from '../src/protocol/legacy-cbc.js';
import { prepareKey, type LegacyKey } from '../src/protocol/keys.js';
import type { RunRequest } from '../src/protocol/messages.js';
import { vectors } from './helpers/vectors.js';

const v = vectors.legacy;
const key = prepareKey({ type: 'AES', mode: 'CBC', data: v.key }) as LegacyKey;
const message = JSON.parse(v.plaintext) as RunRequest;

describe('legacy AES-CBC format (the seed)', () => {
  test('seals exactly the vector token with the vector IV', () => {
    assert.equal(sealLegacyRequest(message, key, Buffer.from(v.iv, 'hex')), v.token);
  });

  test('opens the vector token', () => {
    assert.deepEqual(openLegacyRequest(v.token, key), { ok: true, value: message });
  });

  test('round-trips responses with AES-128 and AES-192 keys too', () => {
    for (const data of ['1234567890123456', '123456789012345678901234']) {
      const k = prepareKey({ type: 'AES', mode: 'CBC', data }) as LegacyKey;
      const token = sealLegacyResponse({ request_id: '1', return: { value: 6 } }, k);
      assert.deepEqual(openLegacyResponse(token, k), { ok: true, value: { request_id: '1', return: { value: 6 } } });
    }
  });

  for (const c of v.refused) {
    test(`refuses ${c.name} (${c.reason})`, () => {
      assert.deepEqual(openLegacyRequest(c.token, key), { ok: false, reason: c.reason });
    });
  }

  test('every value of the last ciphertext byte is refused or opens, never anything else', () => {
    const raw = Buffer.from(v.token, 'base64');
    const reasons = new Set<string>();
    for (let b = 0; b < 256; b++) {
      const copy = Buffer.from(raw);
      copy[copy.length - 1] = b;
      const r = openLegacyRequest(copy.toString('base64'), key);
      reasons.add(r.ok ? 'ok' : r.reason);
    }
    // The server maps all of these reasons to one 401: see server-http.test.ts.
    for (const r of reasons) assert.ok(['ok', 'legacy_refused', 'bad_plaintext'].includes(r), r);
  });
});
