import type { ClientConfig } from '../../config/client-config.js';
import { printable } from '../../protocol/printable.js';
import { loadServerConfig } from '../../config/store.js';
import { PsimbolsError } from '../../errors.js';
import { parseServerConfig } from '../../config/server-config.js';
import { readHeader } from '../../protocol/envelope.js';
import type { RefusalReason } from '../../protocol/result.js';
import { authenticate } from '../../server/core/authenticate.js';
import { buildState, type ServerState } from '../../server/core/server-state.js';
import { isObject, parseJson } from '../../protocol/messages.js';
import { clientConfig, serverPath } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { inputReader } from '../inputs.js';
import { out, printJson, type GlobalOptions, type Io } from '../io.js';

// `psimbols inspect TOKEN|-`: what a token says, for "why did I get 401". Without a key: the
// header of a ps2 token (kind, key id, timestamp and its age, nonce). With a client config or the
// server config: the plaintext, or exactly why the server would refuse it. It takes a bare token
// or a whole request body, as `call --offline` prints it.

type Options = { readonly clientConfig?: string; readonly config?: string; readonly json?: boolean };
type Request = { readonly token: string; readonly client: string | undefined; readonly server: string | undefined };
/** What the server would know: its clients, as it prepares them, and the id to assume for a bare token. */
type Known = { readonly state: ServerState; readonly client: string };

// Every reason the server can refuse for, in words (exhaustive: a new reason needs its sentence).
const WHY: Record<RefusalReason, string> = {
  unknown_client: 'no client of this id is registered',
  unknown_key: "its key id is not one of this client's keys: another client's key, or a rotated one",
  bad_tag: 'it does not open with this key for this client id and server URL: a wrong key, an altered token, or another client id or server URL bound into it',
  stale: 'it is stamped too long ago',
  future: 'it is stamped in the future: the client\'s clock is ahead',
  replayed: 'it was accepted before: a token is good once',
  server_mismatch: 'it opens, but is bound to another server URL than the one registered for this client',
  malformed_token: 'it is not a well-formed ps2 token (strict base64), nor a legacy token this client has a key for',
  bad_version: 'it is not ps2 (version byte)',
  bad_kind: 'it is a response, not a request',
  bad_length: 'it is too short to hold anything',
  bad_plaintext: 'its contents are not a request',
  legacy_refused: 'it does not decrypt with this legacy key (padding or UTF-8)',
};

function requestOf(text: string): Request {
  const value = parseJson(text.trim());
  if (isObject(value) && typeof value.request === 'string') {
    return { token: value.request, client: typeof value.client === 'string' ? value.client : undefined, server: typeof value.server === 'string' ? value.server : undefined };
  }
  return { token: text.trim(), client: undefined, server: undefined };
}

// The clients as the server prepares them (buildState), from its config or from one client's.
async function knownFrom(io: Io, g: GlobalOptions, o: Options, r: Request): Promise<Known | undefined> {
  if (o.clientConfig !== undefined) {
    const c: ClientConfig = await clientConfig(io, g, o.clientConfig);
    const config = parseServerConfig({ clients: { [c.client]: { server: c.server, keys: [c.key] } } }, o.clientConfig);
    return { state: buildState(config), client: c.client };
  }
  if (o.config === undefined) return undefined;
  const config = await loadServerConfig(serverPath(io, g, o.config));
  if (r.client === undefined) throw new PsimbolsError('usage', 'with the server config, give the whole request body ({"client", "server", "request"}), so that the client is known');
  return { state: buildState(config), client: r.client };
}

/** What inspect found, typed for --json; the text form is rendered from it. */
type Report = {
  client?: string;
  server?: string;
  format: 'ps2' | 'other';
  kind?: 'request' | 'response' | 'clock' | number;
  key_id?: string;
  timestamp?: string;
  age_seconds?: number;
  nonce?: string;
  ciphertext_bytes?: number;
  problem?: RefusalReason;
  verdict: { code: 'opens' | 'opens_legacy' | 'not_checked' | RefusalReason; message: string; off_seconds?: number };
  plaintext?: unknown;
};

const KINDS: Record<number, 'request' | 'response' | 'clock'> = { 1: 'request', 2: 'response', 3: 'clock' };
// Refusals that say the token is not a token at all: exit 2, as gpg --verify does on garbage.
const MALFORMED: ReadonlySet<RefusalReason> = new Set(['malformed_token', 'bad_version', 'bad_kind', 'bad_length']);

function header(r: Request, now: number): Report {
  const shown = { ...(r.client === undefined ? {} : { client: r.client }), ...(r.server === undefined ? {} : { server: r.server }) };
  const h = readHeader(r.token);
  const unchecked = { code: 'not_checked', message: 'give --client-config or -c, the server config, to open it' } as const;
  if (!h.ok) return { ...shown, format: 'other', problem: h.reason, verdict: unchecked };
  const v = h.value;
  return { ...shown, format: 'ps2', kind: KINDS[v.kind] ?? v.kind, key_id: v.kid.toString('hex'), timestamp: new Date(v.ts * 1000).toISOString(), age_seconds: now - v.ts, nonce: v.nonce.toString('base64url'), ciphertext_bytes: v.ciphertextBytes, verdict: unchecked };
}

/** The plaintext, or why the server would refuse the token: the server's own steps decide (authenticate). */
function verdict(r: Request, k: Known, now: number): Pick<Report, 'verdict' | 'plaintext'> {
  const client = r.client ?? k.client;
  // A bare token is taken as bound to the server URL registered for its client.
  const server = r.server ?? k.state.clients.get(client)?.server;
  const opened = authenticate({ client, server, request: r.token }, { state: k.state, nowMs: now * 1000 });
  if (!opened.ok) {
    const h = readHeader(r.token);
    const { window } = k.state;
    const skew = h.ok && (opened.reason === 'stale' || opened.reason === 'future');
    const detail = skew ? ` (${Math.abs(now - h.value.ts)} s off; the window is −${window.pastSeconds} s … +${window.futureSeconds} s)` : '';
    return { verdict: { code: opened.reason, message: `refused: ${WHY[opened.reason]}${detail}`, ...(skew ? { off_seconds: now - h.value.ts } : {}) } };
  }
  const legacy = opened.value.ts === undefined;
  return { verdict: { code: legacy ? 'opens_legacy' : 'opens', message: legacy ? 'opens (legacy, unauthenticated)' : 'opens' }, plaintext: opened.value.message };
}

// Unverified fields are shown with their control characters escaped.
function text(report: Report): string {
  const lines: string[] = [];
  if (report.client !== undefined) lines.push(`client      ${printable(report.client, 100)}${report.server === undefined ? '' : `, server ${printable(report.server, 300)}`}`);
  if (report.format === 'other') lines.push(`format      not a ps2 token (${report.problem}); a seed-format (legacy) token if it is base64`);
  else {
    const age = report.age_seconds ?? 0;
    lines.push(
      `format      ps2, ${typeof report.kind === 'number' ? `kind ${report.kind}` : report.kind}`,
      `key id      ${report.key_id}`,
      `timestamp   ${report.timestamp} (${age >= 0 ? `${age} s ago` : `${-age} s in the future`})`,
      `nonce       ${report.nonce}`,
      `ciphertext  ${report.ciphertext_bytes} bytes`,
    );
  }
  lines.push(report.verdict.code === 'not_checked' ? `verdict     (${report.verdict.message})` : `verdict     ${report.verdict.message}`);
  if (report.plaintext !== undefined) lines.push(`plaintext   ${JSON.stringify(report.plaintext)}`);
  return lines.join('\n');
}

// 0: it opens, or nothing was asked; 4: the server would refuse it (as call exits on a 401);
// 2: it is not a token, as gpg --verify exits non-zero on garbage.
// Without a key, a token that is not ps2 may still be a legacy one: standard base64.
function exitFor(report: Report, token: string): number {
  const code = report.verdict.code;
  if (code === 'opens' || code === 'opens_legacy') return EXIT.ok;
  if (code === 'not_checked') return report.format === 'ps2' || /^[A-Za-z0-9+/]+={0,2}$/.test(token) ? EXIT.ok : EXIT.usage;
  return MALFORMED.has(code) ? EXIT.usage : EXIT.unauthorized;
}

export async function run(io: Io, g: GlobalOptions, token: string, o: Options): Promise<number> {
  const input = token === '-' ? await inputReader(io)('-', 'TOKEN') : token;
  const r = requestOf(input);
  const now = Math.floor(Date.now() / 1000);
  const known = await knownFrom(io, g, o, r);
  const report = { ...header(r, now), ...(known === undefined ? {} : verdict(r, known, now)) };
  if (o.json) await printJson(io, g, report);
  else out(io, text(report));
  return exitFor(report, r.token);
}
