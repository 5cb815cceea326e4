import { isUtf8 } from 'node:buffer';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { decodeBase64Strict } from './base64.js';
import type { LegacyKey } from './keys.js';
import { parseJson, parseRunRequest, parseRunResponse, type RunRequest, type RunResponse } from './messages.js';
import { ok, refuse, type Result } from './result.js';

// The seed's format (docs/PROTOCOL.md, "Legacy mode"): base64(iv16 ‖ AES-CBC-PKCS7(key, JSON)).
// Unauthenticated: every failure below must look the same from outside, or padding becomes an
// oracle. So the padding is checked by hand rather than by an exception from final(), and a
// token with bad padding goes through the same steps as one with good padding and bad contents
// (decode, UTF-8 check, JSON parse) before it is refused.

const BLOCK = 16;

const algorithm = (secret: Buffer): string => `aes-${secret.length * 8}-cbc`;

function sealLegacy(plaintext: unknown, key: LegacyKey, iv: Buffer = randomBytes(BLOCK)): string {
  const cipher = createCipheriv(algorithm(key.secret), key.secret, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(plaintext), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body]).toString('base64');
}

/** The PKCS#7 padding length, or 0 when the padding is invalid; the same steps either way. */
function paddingOf(plain: Buffer): number {
  const pad = plain[plain.length - 1] ?? 0;
  let bad = pad === 0 || pad > BLOCK ? 1 : 0;
  for (let i = 1; i <= BLOCK; i++) bad |= i <= pad && plain[plain.length - i] !== pad ? 1 : 0;
  return bad === 1 ? 0 : pad;
}

function openLegacy(token: string, key: LegacyKey): Result<unknown> {
  const raw = decodeBase64Strict(token);
  if (raw === undefined) return refuse('malformed_token');
  if (raw.length < 2 * BLOCK || raw.length % BLOCK !== 0) return refuse('bad_length');
  const decipher = createDecipheriv(algorithm(key.secret), key.secret, raw.subarray(0, BLOCK)).setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(raw.subarray(BLOCK)), decipher.final()]);
  const pad = paddingOf(plain);
  const body = plain.subarray(0, plain.length - pad);
  const utf8 = isUtf8(body);
  const value = parseJson(body.toString('utf8'));
  if (pad === 0 || !utf8) return refuse('legacy_refused');
  return value === undefined ? refuse('bad_plaintext') : ok(value);
}

export function sealLegacyRequest(message: RunRequest, key: LegacyKey, iv?: Buffer): string {
  return sealLegacy(message, key, iv);
}

export function sealLegacyResponse(message: RunResponse, key: LegacyKey, iv?: Buffer): string {
  return sealLegacy(message, key, iv);
}

export function openLegacyRequest(token: string, key: LegacyKey): Result<RunRequest> {
  const opened = openLegacy(token, key);
  if (!opened.ok) return opened;
  const message = parseRunRequest(opened.value);
  return message === undefined ? refuse('bad_plaintext') : ok(message);
}

export function openLegacyResponse(token: string, key: LegacyKey): Result<RunResponse> {
  const opened = openLegacy(token, key);
  if (!opened.ok) return opened;
  const message = parseRunResponse(opened.value);
  return message === undefined ? refuse('bad_plaintext') : ok(message);
}
