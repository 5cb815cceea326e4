import { PsimbolsError } from '../errors.js';
import type { KeySpec } from '../protocol/keys.js';
import type { ClientConfig } from './client-config.js';
import { CLIENT_ID_RULE, isClientId } from './ids.js';
import { defaultServerUrl, type ClientEntry, type ServerConfig } from './server-config.js';

// Pure edits of a server config: each returns a new config and never touches a file.

type NewClient = {
  readonly key: KeySpec;
  readonly server?: string;
  readonly requestsPerHour?: number;
  readonly allow?: readonly string[];
};

export function addClient(config: ServerConfig, id: string, client: NewClient, force = false): ServerConfig {
  if (!isClientId(id)) throw new PsimbolsError('usage', `invalid client id ${JSON.stringify(id)}: use ${CLIENT_ID_RULE}`);
  if (clientEntry(config, id) && !force) throw new PsimbolsError('client_exists', `client "${id}" already exists (use --force to replace it)`);
  const entry: ClientEntry = {
    server: client.server ?? defaultServerUrl(config),
    keys: [client.key],
    requestsPerHour: client.requestsPerHour,
    allow: client.allow === undefined || client.allow.length === 0 ? undefined : [...client.allow],
  };
  return withClients(config, (clients) => clients.set(id, entry));
}

/** The client's entry, if the config has one: never a property every object inherits (`constructor`). */
export const clientEntry = (config: ServerConfig, id: string): ClientEntry | undefined => (Object.hasOwn(config.clients, id) ? config.clients[id] : undefined);

function entryOf(config: ServerConfig, id: string): ClientEntry {
  const entry = clientEntry(config, id);
  if (!entry) throw new PsimbolsError('client_not_found', `no client "${id}" in the server config`);
  return entry;
}

// Edits go through a Map, and the result has no prototype, so that any valid id is only data.
function withClients(config: ServerConfig, change: (clients: Map<string, ClientEntry>) => void): ServerConfig {
  const clients = new Map(Object.entries(config.clients));
  change(clients);
  return { ...config, clients: Object.setPrototypeOf(Object.fromEntries(clients), null) as ServerConfig['clients'] };
}

/** Puts back what `id` was before an edit: its entry, or no client at all. For undoing a command. */
export function restoreClient(config: ServerConfig, id: string, entry: ClientEntry | undefined): ServerConfig {
  return withClients(config, (clients) => (entry === undefined ? clients.delete(id) : clients.set(id, entry)));
}

export function removeClient(config: ServerConfig, id: string): ServerConfig {
  entryOf(config, id);
  return withClients(config, (clients) => clients.delete(id));
}

/**
 * Puts a new current key first; the older keys stay accepted until the rotation is finished, a
 * legacy client's CBC key too, so that its clients can move to ps2 one at a time.
 */
export function rotateKey(config: ServerConfig, id: string, key: KeySpec, retireOld = false): ServerConfig {
  const entry = entryOf(config, id);
  const keep = retireOld || key.mode === 'CBC' ? [] : entry.keys;
  return withClients(config, (clients) => clients.set(id, { ...entry, keys: [key, ...keep] }));
}

/** Drops every key but the current one. */
export function finishRotation(config: ServerConfig, id: string): ServerConfig {
  const entry = entryOf(config, id);
  return withClients(config, (clients) => clients.set(id, { ...entry, keys: entry.keys.slice(0, 1) }));
}

/** The seed-format config to hand to a client: its id, its endpoint and its current key. */
export function clientConfigFor(config: ServerConfig, id: string): ClientConfig {
  const entry = entryOf(config, id);
  const key = entry.keys[0];
  if (!key) throw new PsimbolsError('config_invalid', `client "${id}" has no key`);
  return { client: id, server: entry.server ?? defaultServerUrl(config), key };
}
