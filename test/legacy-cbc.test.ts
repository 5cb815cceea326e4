import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { createDecipheriv } from 'node:crypto';
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

  test('each value of the last ciphertext byte: only the original opens, bad padding is legacy_refused, good padding with broken JSON is bad_plaintext', () => {
    const raw = Buffer.from(v.token, 'base64');
    // The expected reason, from a decryption without padding checks: PKCS#7 judged here by hand.
    const expected = (token: Buffer): string => {
      const d = createDecipheriv('aes-256-cbc', Buffer.from(v.key), token.subarray(0, 16)).setAutoPadding(false);
      const plain = Buffer.concat([d.update(token.subarray(16)), d.final()]);
      const pad = plain[plain.length - 1]!;
      const padded = pad >= 1 && pad <= 16 && plain.subarray(plain.length - pad).every((x) => x === pad);
      if (!padded) return 'legacy_refused';
      const text = plain.subarray(0, plain.length - pad);
      if (!isUtf8(text)) return 'legacy_refused';
      return text.equals(Buffer.from(v.plaintext)) ? 'ok' : 'bad_plaintext';
    };
    const seen: Record<string, number> = {};
    for (let b = 0; b < 256; b++) {
      const copy = Buffer.from(raw);
      copy[copy.length - 1] = b;
      const r = openLegacyRequest(copy.toString('base64'), key);
      const reason = r.ok ? 'ok' : r.reason;
      assert.equal(reason, expected(copy), `last byte ${b}`);
      seen[reason] = (seen[reason] ?? 0) + 1;
    }
    // The server maps every reason to one 401: see adversarial.test.ts.
    assert.equal(seen.ok, 1);
    assert.ok((seen.legacy_refused ?? 0) > 200, JSON.stringify(seen));
  });
});
