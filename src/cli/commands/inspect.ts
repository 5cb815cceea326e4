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
  before_start: 'it is stamped before the server\'s memory began (a restart): seal it afresh',
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

function headerLines(token: string, now: number): string[] {
  const h = readHeader(token);
  if (!h.ok) return [`format      not a ps2 token (${h.reason}); a seed-format (legacy) token if it is base64`];
  const age = now - h.value.ts;
  const when = age >= 0 ? `${age} s ago` : `${-age} s in the future`;
  return [
      `format      ps2, ${h.value.kind === 1 ? 'request' : h.value.kind === 2 ? 'response' : `kind ${h.value.kind}`}`,
      `key id      ${h.value.kid.toString('hex')}`,
      `timestamp   ${new Date(h.value.ts * 1000).toISOString()} (${when})`,
      `nonce       ${h.value.nonce.toString('base64url')}`,
    `ciphertext  ${h.value.ciphertextBytes} bytes`,
  ];
}

/** The plaintext, or why the server would refuse the token: the server's own steps decide (authenticate). */
function verdict(r: Request, k: Known, now: number): string[] {
  const client = r.client ?? k.client;
  // A bare token is taken as bound to the server URL registered for its client.
  const server = r.server ?? k.state.clients.get(client)?.server;
  const opened = authenticate({ client, server, request: r.token }, { state: k.state, nowMs: now * 1000 });
  if (!opened.ok) {
    const h = readHeader(r.token);
    const { window } = k.state;
    const detail = h.ok && (opened.reason === 'stale' || opened.reason === 'future') ? ` (${Math.abs(now - h.value.ts)} s off; the window is −${window.pastSeconds} s … +${window.futureSeconds} s)` : '';
    return [`verdict     refused: ${WHY[opened.reason]}${detail}`];
  }
  const legacy = opened.value.ts === undefined ? ' (legacy, unauthenticated)' : '';
  return [`verdict     opens${legacy}`, `plaintext   ${JSON.stringify(opened.value.message)}`];
}

export async function run(io: Io, g: GlobalOptions, token: string, o: Options): Promise<number> {
  const text = token === '-' ? await inputReader(io)('-', 'TOKEN') : token;
  const r = requestOf(text);
  const now = Math.floor(Date.now() / 1000);
  const lines = headerLines(r.token, now);
  // Unverified fields: shown with their control characters escaped.
  if (r.client !== undefined) lines.unshift(`client      ${printable(r.client, 100)}${r.server === undefined ? '' : `, server ${printable(r.server, 300)}`}`);
  const known = await knownFrom(io, g, o, r);
  if (known !== undefined) lines.push(...verdict(r, known, now));
  else lines.push('verdict     (give --client-config or -c, the server config, to open it)');
  if (o.json) await printJson(io, g, Object.fromEntries(lines.map((l) => [l.slice(0, 12).trim(), l.slice(12)])));
  else out(io, lines.join('\n'));
  return EXIT.ok;
}
