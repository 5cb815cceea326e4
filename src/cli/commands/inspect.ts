import type { ClientConfig } from '../../config/client-config.js';
import { loadServerConfig } from '../../config/store.js';
import { PsimbolsError } from '../../errors.js';
import { DEFAULT_WINDOW, openRequest, readHeader, type Window } from '../../protocol/envelope.js';
import { prepareKey, type LegacyKey, type V2Key } from '../../protocol/keys.js';
import { buildState } from '../../server/core/server-state.js';
import { openLegacyRequest } from '../../protocol/legacy-cbc.js';
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
type Keys = { readonly client: string; readonly server: string | undefined; readonly v2: readonly V2Key[]; readonly legacy: LegacyKey | undefined; readonly window: Window };
type Request = { readonly token: string; readonly client: string | undefined; readonly server: string | undefined };

const WHY: Record<string, string> = {
  unknown_key: "its key id is not one of this client's keys: another client's key, or a rotated one",
  bad_tag: 'it does not open with this key for this client id and server URL: a wrong key, an altered token, or another client id or server URL bound into it',
  stale: 'it is stamped too long ago',
  future: 'it is stamped in the future: the client\'s clock is ahead',
  malformed_token: 'it is not a well-formed token (strict base64)',
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

async function keysFrom(io: Io, g: GlobalOptions, o: Options, r: Request): Promise<Keys | undefined> {
  if (o.clientConfig !== undefined) {
    const c: ClientConfig = await clientConfig(io, g, o.clientConfig);
    const key = prepareKey(c.key);
    return { client: c.client, server: c.server, v2: key.kind === 'v2' ? [key] : [], legacy: key.kind === 'legacy' ? key : undefined, window: DEFAULT_WINDOW };
  }
  if (o.config === undefined) return undefined;
  const config = await loadServerConfig(serverPath(io, g, o.config));
  if (r.client === undefined) throw new PsimbolsError('usage', 'with the server config, give the whole request body ({"client", "server", "request"}), so that the client is known');
  // The keys as the server prepares them: the same code decides here as at the door.
  const state = buildState(config);
  const c = state.clients.get(r.client);
  return { client: r.client, server: c?.server, v2: c?.keys ?? [], legacy: c?.legacy, window: state.window };
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

/** The plaintext, or why the server would refuse the token, for these keys. */
function verdict(r: Request, k: Keys, now: number): string[] {
  const server = r.server ?? k.server ?? '';
  if (!r.token.startsWith('ps2.')) {
    if (k.legacy === undefined) return ['verdict     refused: a legacy token, and this client has no legacy key'];
    const opened = openLegacyRequest(r.token, k.legacy);
    return opened.ok ? ['verdict     opens (legacy, unauthenticated)', `plaintext   ${JSON.stringify(opened.value)}`] : [`verdict     refused: ${WHY[opened.reason] ?? opened.reason}`];
  }
  const opened = openRequest(r.token, { client: r.client ?? k.client, server, keys: k.v2, now, window: k.window });
  if (!opened.ok) {
    const h = readHeader(r.token);
    const detail = h.ok && (opened.reason === 'stale' || opened.reason === 'future') ? ` (${Math.abs(now - h.value.ts)} s off; the window is −${k.window.pastSeconds} s … +${k.window.futureSeconds} s)` : '';
    return [`verdict     refused: ${WHY[opened.reason] ?? opened.reason}${detail}`];
  }
  const lines = ['verdict     opens', `plaintext   ${JSON.stringify(opened.value.message)}`];
  if (k.server !== undefined && server !== k.server) lines.push(`server      refused all the same: it is bound to ${server}, and the server registered ${k.server} for this client`);
  return lines;
}

export async function run(io: Io, g: GlobalOptions, token: string, o: Options): Promise<number> {
  const text = token === '-' ? await inputReader(io)('-', 'TOKEN') : token;
  const r = requestOf(text);
  const now = Math.floor(Date.now() / 1000);
  const lines = headerLines(r.token, now);
  if (r.client !== undefined) lines.unshift(`client      ${r.client}${r.server === undefined ? '' : `, server ${r.server}`}`);
  const keys = await keysFrom(io, g, o, r);
  if (keys !== undefined) lines.push(...verdict(r, keys, now));
  else lines.push('verdict     (give --client-config or -c, the server config, to open it)');
  if (o.json) await printJson(io, g, Object.fromEntries(lines.map((l) => [l.slice(0, 12).trim(), l.slice(12)])));
  else out(io, lines.join('\n'));
  return EXIT.ok;
}
