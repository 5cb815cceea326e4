import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { decodeBase64urlStrict, encodeBase64url } from './base64.js';
import { isObject } from './messages.js';

/** A ps2 key as written in config files (docs/PROTOCOL.md, "Keys"). */
export type V2KeySpec = {
  readonly type: 'AES';
  readonly mode: 'GCM';
  readonly encoding: 'base64url';
  readonly data: string;
};

/** A seed-format key: the UTF-8 bytes of `data` are the AES-CBC key. */
export type LegacyKeySpec = {
  readonly type: 'AES';
  readonly mode: 'CBC';
  readonly data: string;
};

export type KeySpec = V2KeySpec | LegacyKeySpec;

export type V2Key = {
  readonly kind: 'v2';
  readonly secret: Buffer;
  /** The secret as a KeyObject, made once: HKDF would otherwise convert it on every message. */
  readonly keyObject: KeyObject;
  readonly kid: Buffer;
  readonly kidHex: string;
};

export type LegacyKey = {
  readonly kind: 'legacy';
  readonly secret: Buffer;
};

export type Key = V2Key | LegacyKey;

export const KEY_BYTES = 32;
const KID_LABEL = 'psimbols/v2/kid';

/** kid = HMAC-SHA256(K, "psimbols/v2/kid")[0..8] (PROTOCOL.md, "Key id"). */
export function deriveKid(secret: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(KID_LABEL).digest().subarray(0, 8);
}

export function generateKeySpec(random: (n: number) => Buffer = randomBytes): V2KeySpec {
  return { type: 'AES', mode: 'GCM', encoding: 'base64url', data: encodeBase64url(random(KEY_BYTES)) };
}

/**
 * Describes what is wrong with a key spec, or returns undefined when it is valid.
 * Field names are relative to the key object so callers can prefix their own path.
 */
export function keySpecProblem(value: unknown): { field: string; problem: string } | undefined {
  if (!isObject(value)) return { field: '', problem: 'must be an object' };
  const k = value;
  if (k.type !== 'AES') return { field: 'type', problem: 'must be "AES"' };
  if (typeof k.data !== 'string') return { field: 'data', problem: 'must be a string' };
  if (k.mode === 'GCM') {
    if (k.encoding !== 'base64url') return { field: 'encoding', problem: 'must be "base64url" for a GCM key' };
    const bytes = decodeBase64urlStrict(k.data);
    if (bytes === undefined || bytes.length !== KEY_BYTES) return { field: 'data', problem: `must be ${KEY_BYTES} bytes in canonical base64url` };
    return undefined;
  }
  if (k.mode === 'CBC') {
    if (k.encoding !== undefined) return { field: 'encoding', problem: 'a legacy CBC key has no encoding: its data is the UTF-8 key itself' };
    const n = Buffer.byteLength(k.data, 'utf8');
    if (n !== 16 && n !== 24 && n !== 32) return { field: 'data', problem: 'must be 16, 24 or 32 bytes of UTF-8 for AES-128/192/256' };
    return undefined;
  }
  return { field: 'mode', problem: 'must be "GCM" (ps2) or "CBC" (legacy)' };
}

/** Turns a validated spec into key material, derived once so the request path never repeats it. */
export function prepareKey(spec: KeySpec): Key {
  if (spec.mode === 'CBC') return { kind: 'legacy', secret: Buffer.from(spec.data, 'utf8') };
  const secret = decodeBase64urlStrict(spec.data);
  if (secret === undefined || secret.length !== KEY_BYTES) throw new TypeError('invalid ps2 key data');
  const kid = deriveKid(secret);
  return { kind: 'v2', secret, keyObject: createSecretKey(secret), kid, kidHex: kid.toString('hex') };
}

export function kidHexOf(spec: V2KeySpec): string {
  const key = prepareKey(spec);
  return key.kind === 'v2' ? key.kidHex : '';
}
