import { defaultServerUrl, type ClientEntry, type ServerConfig } from '../../config/server-config.js';
import type { Window } from '../../protocol/envelope.js';
import { prepareKey, type LegacyKey, type V2Key } from '../../protocol/keys.js';
import { compileAllow, type Allow } from '../modules/module-api.js';

// What the request path needs of the config, derived once per (re)load: keys prepared, allow-lists
// compiled, defaults applied.

export type ClientState = {
  readonly id: string;
  /** The server URL bound into its tokens: its entry's, or the config's default (defaultServerUrl). */
  readonly server: string;
  readonly keys: readonly V2Key[];
  readonly legacy: LegacyKey | undefined;
  readonly limit: number;
  readonly allow: Allow;
  /** The allow-list as written (or the default), for display. */
  readonly allowPatterns: readonly string[];
};

export type ServerState = {
  readonly clients: ReadonlyMap<string, ClientState>;
  readonly window: Window;
};

function clientState(id: string, entry: ClientEntry, config: ServerConfig): ClientState {
  const keys = entry.keys.map(prepareKey);
  const allowPatterns = entry.allow ?? config.defaults.allow;
  return {
    id,
    server: entry.server ?? defaultServerUrl(config),
    keys: keys.filter((k): k is V2Key => k.kind === 'v2'),
    legacy: keys.find((k): k is LegacyKey => k.kind === 'legacy'),
    limit: entry.requestsPerHour ?? config.defaults.requestsPerHour,
    allow: compileAllow(allowPatterns),
    allowPatterns,
  };
}

export function buildState(config: ServerConfig): ServerState {
  const clients = new Map<string, ClientState>();
  for (const [id, entry] of Object.entries(config.clients)) clients.set(id, clientState(id, entry, config));
  return { clients, window: { pastSeconds: config.limits.pastSeconds, futureSeconds: config.limits.futureSeconds } };
}

export const legacyClients = (state: ServerState): string[] => [...state.clients.values()].filter((c) => c.legacy !== undefined).map((c) => c.id);
