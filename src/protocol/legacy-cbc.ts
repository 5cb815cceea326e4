import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { decodeBase64Strict } from './base64.js';
import type { LegacyKey } from './keys.js';
import { parseJson, parseRunRequest, parseRunResponse, type RunRequest, type RunResponse } from './messages.js';
import { ok, refuse, type Result } from './result.js';

// The seed's format (docs/PROTOCOL.md, "Legacy mode"): base64(iv16 ‖ AES-CBC-PKCS7(key, JSON)).
// Unauthenticated: every failure below must look the same from outside, or padding becomes an oracle.

const BLOCK = 16;
const utf8 = new TextDecoder('utf-8', { fatal: true });

const algorithm = (secret: Buffer): string => `aes-${secret.length * 8}-cbc`;

function sealLegacy(plaintext: unknown, key: LegacyKey, iv: Buffer = randomBytes(BLOCK)): string {
  const cipher = createCipheriv(algorithm(key.secret), key.secret, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(plaintext), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body]).toString('base64');
}

function openLegacy(token: string, key: LegacyKey): Result<unknown> {
  const raw = decodeBase64Strict(token);
  if (raw === undefined) return refuse('malformed_token');
  if (raw.length < 2 * BLOCK || raw.length % BLOCK !== 0) return refuse('bad_length');
  let text: string;
  try {
    const decipher = createDecipheriv(algorithm(key.secret), key.secret, raw.subarray(0, BLOCK));
    text = utf8.decode(Buffer.concat([decipher.update(raw.subarray(BLOCK)), decipher.final()]));
  } catch {
    return refuse('legacy_refused');
  }
  const value = parseJson(text);
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
