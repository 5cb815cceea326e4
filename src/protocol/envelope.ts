import { createCipheriv, createDecipheriv, createHash, createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { decodeBase64urlStrict, encodeBase64url } from './base64.js';
import type { V2Key } from './keys.js';
import { parseClockAnswer, parseJson, parseRunRequest, parseRunResponse, type ClockAnswer, type RunRequest, type RunResponse } from './messages.js';
import { ok, refuse, type Result } from './result.js';

// Constants of docs/PROTOCOL.md, "The ps2 envelope".
export const TOKEN_PREFIX = 'ps2.';
const VERSION = 0x02;
const KIND_REQUEST = 0x01;
const KIND_RESPONSE = 0x02;
const KIND_CLOCK = 0x03;
const HEADER_BYTES = 50;
const NONCE_BYTES = 32;
const TAG_BYTES = 16;
const INFO_REQUEST = Buffer.from('psimbols/v2/c2s', 'ascii');
const INFO_RESPONSE = Buffer.from('psimbols/v2/s2c', 'ascii');
const EMPTY = Buffer.alloc(0);

/** Accepted timestamp skew in seconds (PROTOCOL.md, "Acceptance"). */
export type Window = { readonly pastSeconds: number; readonly futureSeconds: number };
export const DEFAULT_WINDOW: Window = { pastSeconds: 300, futureSeconds: 60 };
export const MAX_WINDOW_SECONDS = 3600;

export type Header = {
  readonly version: number;
  readonly kind: number;
  readonly kid: Buffer;
  readonly ts: number;
  readonly nonce: Buffer;
};

export type SealRequestOptions = {
  readonly client: string;
  readonly server: string;
  readonly key: V2Key;
  /** Unix seconds; defaults to the current time. */
  readonly now?: number;
  readonly nonce?: Buffer;
};

export type SealResponseOptions = SealRequestOptions & { readonly requestToken: string };

export type OpenRequestOptions = {
  readonly client: string;
  readonly server: string;
  readonly keys: readonly V2Key[];
  /** Unix seconds. */
  readonly now: number;
  readonly window?: Window;
};

export type OpenedRequest = {
  readonly message: RunRequest;
  readonly header: Header;
  readonly key: V2Key;
};

export type OpenResponseOptions = {
  readonly client: string;
  readonly server: string;
  readonly key: V2Key;
  readonly requestToken: string;
};

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

function lengthPrefixed(bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + bytes.length);
  out.writeUInt32BE(bytes.length, 0);
  bytes.copy(out, 4);
  return out;
}

function additionalData(header: Buffer, client: string, server: string, binding: Buffer): Buffer {
  return Buffer.concat([
    header,
    lengthPrefixed(Buffer.from(client, 'utf8')),
    lengthPrefixed(Buffer.from(server, 'utf8')),
    lengthPrefixed(binding),
  ]);
}

function messageKey(secret: KeyObject, kind: number, nonce: Buffer): { key: Buffer; iv: Buffer } {
  const info = Buffer.concat([kind === KIND_REQUEST ? INFO_REQUEST : INFO_RESPONSE, nonce]);
  const okm = Buffer.from(hkdfSync('sha256', secret, EMPTY, info, 44));
  return { key: okm.subarray(0, 32), iv: okm.subarray(32, 44) };
}

/** SHA-256 of the request token's ASCII bytes: what binds a response to its request. */
export function requestBinding(requestToken: string): Buffer {
  return createHash('sha256').update(requestToken, 'ascii').digest();
}

function encodeHeader(kind: number, kid: Buffer, ts: number, nonce: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = VERSION;
  header[1] = kind;
  kid.copy(header, 2);
  header.writeBigUInt64BE(BigInt(ts), 10);
  nonce.copy(header, 18);
  return header;
}

function seal(kind: number, plaintext: unknown, o: SealRequestOptions, binding: Buffer): string {
  const nonce = o.nonce ?? randomBytes(NONCE_BYTES);
  if (nonce.length !== NONCE_BYTES) throw new RangeError(`nonce must be ${NONCE_BYTES} bytes`);
  const ts = o.now ?? nowSeconds();
  const header = encodeHeader(kind, o.key.kid, ts, nonce);
  const { key, iv } = messageKey(o.key.keyObject, kind, nonce);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(header, o.client, o.server, binding));
  const body = Buffer.concat([cipher.update(JSON.stringify(plaintext), 'utf8'), cipher.final()]);
  return TOKEN_PREFIX + encodeBase64url(Buffer.concat([header, body, cipher.getAuthTag()]));
}

/** Seals a request plaintext into a `ps2.` token. */
export function sealRequest(message: RunRequest, options: SealRequestOptions): string {
  return seal(KIND_REQUEST, message, options, EMPTY);
}

/** Seals a response plaintext, bound to the request token it answers. */
export function sealResponse(message: RunResponse, options: SealResponseOptions): string {
  return seal(KIND_RESPONSE, message, options, requestBinding(options.requestToken));
}

/** Seals a clock answer: the server's time, for the request token stamped outside its window, bound to it. */
export function sealClock(message: ClockAnswer, options: SealResponseOptions): string {
  return seal(KIND_CLOCK, message, { ...options, now: message.clock.now }, requestBinding(options.requestToken));
}

/** The header of a ps2 token of either kind, read without a key (for `psimbols inspect`). */
export function readHeader(token: string): Result<Header & { readonly ciphertextBytes: number }> {
  if (!token.startsWith(TOKEN_PREFIX)) return refuse('malformed_token');
  const raw = decodeBase64urlStrict(token.slice(TOKEN_PREFIX.length));
  if (raw === undefined) return refuse('malformed_token');
  if (raw.length < 1 || raw[0] !== VERSION) return refuse('bad_version');
  if (raw.length <= HEADER_BYTES + TAG_BYTES) return refuse('bad_length');
  return ok({ version: VERSION, kind: raw[1] ?? 0, kid: raw.subarray(2, 10), ts: Number(raw.readBigUInt64BE(10)), nonce: raw.subarray(18, HEADER_BYTES), ciphertextBytes: raw.length - HEADER_BYTES - TAG_BYTES });
}

type Parsed = { readonly header: Header; readonly headerBytes: Buffer; readonly body: Buffer; readonly tag: Buffer };

/** Steps 1-3 of acceptance: encoding, version, kind, length. */
function parseToken(token: string, expectedKind: number): Result<Parsed> {
  if (!token.startsWith(TOKEN_PREFIX)) return refuse('malformed_token');
  const raw = decodeBase64urlStrict(token.slice(TOKEN_PREFIX.length));
  if (raw === undefined) return refuse('malformed_token');
  if (raw.length < 1 || raw[0] !== VERSION) return refuse('bad_version');
  if (raw.length < 2 || raw[1] !== expectedKind) return refuse('bad_kind');
  if (raw.length <= HEADER_BYTES + TAG_BYTES) return refuse('bad_length');
  const headerBytes = raw.subarray(0, HEADER_BYTES);
  const header: Header = {
    version: VERSION,
    kind: expectedKind,
    kid: raw.subarray(2, 10),
    ts: Number(raw.readBigUInt64BE(10)),
    nonce: raw.subarray(18, HEADER_BYTES),
  };
  return ok({ header, headerBytes, body: raw.subarray(HEADER_BYTES, raw.length - TAG_BYTES), tag: raw.subarray(raw.length - TAG_BYTES) });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const DECOY_KEY = createSecretKey(Buffer.alloc(32, 0x5a));

function decrypt(p: Parsed, secret: KeyObject, aad: Buffer): string | undefined {
  const { key, iv } = messageKey(secret, p.header.kind, p.header.nonce);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(p.tag);
  try {
    const plain = Buffer.concat([decipher.update(p.body), decipher.final()]);
    return utf8.decode(plain);
  } catch {
    return undefined;
  }
}

/**
 * Applies the acceptance rules of PROTOCOL.md to a request token, except the replay check and
 * what a store has forgotten, which need a store and belong to the caller. Every refusal carries its reason for the log.
 */
/** A request that is the client's own but stamped outside the window: what a clock answer needs. */
export type Skewed = { readonly key: V2Key; readonly requestId: string };
export type OpenedRequestResult = Result<OpenedRequest> | { readonly ok: false; readonly reason: 'stale' | 'future'; readonly skewed: Skewed };

export function openRequest(token: string, o: OpenRequestOptions): OpenedRequestResult {
  const parsed = parseToken(token, KIND_REQUEST);
  if (!parsed.ok) return parsed;
  const p = parsed.value;
  const key = o.keys.find((k) => k.kid.equals(p.header.kid));
  // Without a matching key (or without a client: pass no keys) the token is still decrypted, with
  // a decoy key, so that refusals cost the same whatever they are for: timing tells nothing.
  const text = decrypt(p, key?.keyObject ?? DECOY_KEY, additionalData(p.headerBytes, o.client, o.server, EMPTY));
  if (key === undefined) return refuse('unknown_key');
  if (text === undefined) return refuse('bad_tag');
  const window = o.window ?? DEFAULT_WINDOW;
  const message = parseRunRequest(parseJson(text));
  const outside = p.header.ts < o.now - window.pastSeconds ? 'stale' : p.header.ts > o.now + window.futureSeconds ? 'future' : undefined;
  if (outside !== undefined) return message === undefined ? refuse(outside) : { ok: false, reason: outside, skewed: { key, requestId: message.request_id } };
  if (message === undefined) return refuse('bad_plaintext');
  return ok({ message, header: p.header, key });
}

// A token the server sealed for one request: a response, or a clock answer.
function openBound<T>(token: string, kind: number, o: OpenResponseOptions, parse: (v: unknown) => T | undefined): Result<{ readonly message: T; readonly ts: number }> {
  const parsed = parseToken(token, kind);
  if (!parsed.ok) return parsed;
  const p = parsed.value;
  if (!p.header.kid.equals(o.key.kid)) return refuse('unknown_key');
  const text = decrypt(p, o.key.keyObject, additionalData(p.headerBytes, o.client, o.server, requestBinding(o.requestToken)));
  if (text === undefined) return refuse('bad_tag');
  const message = parse(parseJson(text));
  return message === undefined ? refuse('bad_plaintext') : ok({ message, ts: p.header.ts });
}

/** Opens a clock answer; it only opens for the request token it answers, and its time is its header's. */
export function openClock(token: string, o: OpenResponseOptions): Result<ClockAnswer> {
  const r = openBound(token, KIND_CLOCK, o, parseClockAnswer);
  if (!r.ok) return r;
  return r.value.message.clock.now === r.value.ts ? ok(r.value.message) : refuse('bad_plaintext');
}

/** Opens a response token; it only opens for the request token it answers. */
export function openResponse(token: string, o: OpenResponseOptions): Result<RunResponse> {
  const r = openBound(token, KIND_RESPONSE, o, parseRunResponse);
  return r.ok ? ok(r.value.message) : r;
}
