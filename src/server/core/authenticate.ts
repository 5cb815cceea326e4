import { createHash } from 'node:crypto';
import { openRequest, sealClock, sealResponse, TOKEN_PREFIX, type Skewed } from '../../protocol/envelope.js';
import type { LegacyKey } from '../../protocol/keys.js';
import { openLegacyRequest, sealLegacyResponse } from '../../protocol/legacy-cbc.js';
import type { RunRequest, RunResponse } from '../../protocol/messages.js';
import { parseOuterRequest, type OuterRequest, type OuterResponse } from '../../protocol/outer.js';
import { ok, refuse, type RefusalReason, type Result } from '../../protocol/result.js';
import { failureKey, type FailureCounter } from '../admission/failure-limiter.js';
import type { ClientState, ServerState } from './server-state.js';

// Who sent a request, and can it be opened: the outer shape, the ps2 or legacy envelope, the decoy
// for unknown ids, and the per-address count of failures. The replay check is the store's.

const LEGACY_REPLAY_MS = 24 * 3_600_000;

// An unknown id goes down the same path as a known one. With no keys, openRequest decrypts with
// its decoy key, so the refusal costs the same work: timing does not tell which ids exist.
const UNKNOWN_CLIENT: ClientState = { id: '', server: '', keys: [], legacy: undefined, limit: 0, allow: () => false, allowPatterns: [] };

/** A request that opened: who sent it, what it asks, and how to seal the answer for it. */
export type Authenticated = {
  readonly client: ClientState;
  readonly outer: OuterRequest;
  readonly message: RunRequest;
  /** The token's timestamp in Unix seconds (ps2 only). */
  readonly ts: number | undefined;
  readonly nonceKey: string;
  readonly nonceTtlMs: number;
  readonly seal: (response: RunResponse) => string;
};

/** A refusal; for a request of the client's own stamped outside the window, with a clock answer sealed for it. */
type AuthResult = Result<Authenticated> | { readonly ok: false; readonly reason: RefusalReason; readonly clock: OuterResponse };

type AuthContext = {
  readonly state: ServerState;
  readonly nowMs: number;
};

// Keyed on the ciphertext without its IV: flipping IV bits alters only the first plaintext block
// (the known '{"request_id": "'), so a token altered that way is still the same request.
const legacyNonce = (token: string): string => `L${createHash('sha256').update(Buffer.from(token, 'base64').subarray(16)).digest('base64url')}`;

// For a legacy-format token sent to an id that has no legacy key: the decryption is still done,
// with this key, so that the format of the token, not the kind of client, decides the work.
const DECOY_LEGACY: LegacyKey = { kind: 'legacy', secret: Buffer.alloc(32, 0x5a) };

function openLegacy(outer: OuterRequest, client: ClientState, known: boolean): Result<Authenticated> {
  const key = client.legacy ?? DECOY_LEGACY;
  const r = openLegacyRequest(outer.request, key);
  if (!known) return refuse('unknown_client');
  if (client.legacy === undefined) return refuse('malformed_token');
  if (!r.ok) return r;
  const seal = (m: RunResponse): string => sealLegacyResponse(m, key);
  return ok({ client, outer, message: r.value, ts: undefined, nonceKey: legacyNonce(outer.request), nonceTtlMs: LEGACY_REPLAY_MS, seal });
}

function openPs2(outer: OuterRequest, client: ClientState, known: boolean, c: AuthContext): AuthResult {
  const server = outer.server ?? '';
  const window = c.state.window;
  // A legacy client has no ps2 keys (unless it is rotating to ps2): openRequest then decrypts
  // with its decoy key, and refuses with unknown_key.
  const r = openRequest(outer.request, { client: outer.client, server, keys: client.keys, now: Math.floor(c.nowMs / 1000), window });
  if (!known) return refuse('unknown_client');
  // Checked after decryption so a mismatch costs the same work as any other refusal.
  if (server !== client.server) return refuse(r.ok ? 'server_mismatch' : r.reason);
  if (!r.ok) return 'skewed' in r ? { ok: false, reason: r.reason, clock: clockAnswer(outer, client, r.skewed, c.nowMs) } : r;
  const { key, header, message } = r.value;
  const token = outer.request;
  return ok({
    client,
    outer,
    message,
    ts: header.ts,
    nonceKey: header.nonce.toString('base64url'),
    nonceTtlMs: Math.max(1000, (header.ts + window.pastSeconds + 1) * 1000 - c.nowMs),
    seal: (m) => sealResponse(m, { client: client.id, server, key, requestToken: token }),
  });
}

// The server's time, sealed for the request and bound to it: only the client's key opens it, and
// the stale token itself is still refused (docs/PROTOCOL.md, "Clock answers").
function clockAnswer(outer: OuterRequest, client: ClientState, skewed: Skewed, nowMs: number): OuterResponse {
  const now = Math.floor(nowMs / 1000);
  const token = sealClock({ request_id: skewed.requestId, clock: { now } }, { client: client.id, server: client.server, key: skewed.key, requestToken: outer.request });
  return { client: client.id, server: outer.server, response: token };
}

/**
 * Opens a request for the client it names, or says why not. The token's format alone picks the
 * work, a ps2 or a CBC decryption, whoever the id names (a known ps2 or legacy client, or no
 * one), so that the time a refusal takes tells nothing about the id. Pure but for that cost.
 */
export function authenticate(outer: OuterRequest, c: AuthContext): AuthResult {
  const known = c.state.clients.get(outer.client);
  const client = known ?? UNKNOWN_CLIENT;
  return outer.request.startsWith(TOKEN_PREFIX) ? openPs2(outer, client, known !== undefined, c) : openLegacy(outer, client, known !== undefined);
}

/** A request refused at the door: 401, or 429 for an address past its failures. */
export type Refused =
  | { readonly kind: 'unauthorized'; readonly reason: RefusalReason; readonly client: string; readonly clock?: OuterResponse }
  | { readonly kind: 'blocked'; readonly reason: RefusalReason; readonly client: string; readonly retryAfterMs: number };
type Gate = { readonly kind: 'bad_request'; readonly message: string } | Refused | { readonly kind: 'authenticated'; readonly request: Authenticated };

const BAD_OUTER: Gate = { kind: 'bad_request', message: 'the body must be a JSON object with string "client" and "request" fields' };

/**
 * The door every request passes: its shape and its envelope. A request that authenticates is
 * served whatever its address has done; failures are counted per address (failureKey), and an
 * address past its limit has its failures answered 429 instead of 401. Every request is still
 * opened first: skipping that work for some would tell, by timing, which ids exist.
 */
export class Authenticator {
  readonly #failures: FailureCounter;

  constructor(failures: FailureCounter) {
    this.#failures = failures;
  }

  async check(body: unknown, ip: string, c: AuthContext): Promise<Gate> {
    const outer = parseOuterRequest(body);
    if (outer === undefined) return BAD_OUTER;
    const r = authenticate(outer, c);
    if (r.ok) return { kind: 'authenticated', request: r.value };
    return this.refuse(ip, r.reason, outer.client, 'clock' in r ? r.clock : undefined);
  }

  /** Counts a failure against the address; also for what only the store can see (a replay). */
  async refuse(ip: string, reason: RefusalReason, client: string, clock?: OuterResponse): Promise<Refused> {
    const blockedMs = await this.#failures.record(failureKey(ip));
    if (blockedMs > 0) return { kind: 'blocked', retryAfterMs: blockedMs, reason, client };
    return clock === undefined ? { kind: 'unauthorized', reason, client } : { kind: 'unauthorized', reason, client, clock };
  }
}
