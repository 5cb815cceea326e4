import { PsimbolsError } from '../errors.js';
import { keySpecProblem, type KeySpec } from '../protocol/keys.js';
import { isObject } from '../protocol/messages.js';
import { CLIENT_ID_RULE, isClientId } from './ids.js';
import { isHttpUrl } from './urls.js';

/** The seed's client config: which client we are, where the server is, and our shared key. */
export type ClientConfig = { readonly client: string; readonly server: string; readonly key: KeySpec };

const invalid = (file: string, field: string, problem: string): PsimbolsError =>
  new PsimbolsError('config_invalid', `${file}: ${field}: ${problem}`);

/** Validates a parsed client config file; errors name the file and the field. Hand-written so `call` never loads zod. */
export function parseClientConfig(value: unknown, file: string): ClientConfig {
  if (!isObject(value)) throw invalid(file, '(top level)', 'must be a JSON object');
  const c = value;
  if (typeof c.client !== 'string' || !isClientId(c.client)) throw invalid(file, 'client', `must be a client id (${CLIENT_ID_RULE})`);
  if (typeof c.server !== 'string' || !isHttpUrl(c.server)) throw invalid(file, 'server', 'must be an http:// or https:// URL');
  const problem = keySpecProblem(c.key);
  if (problem) throw invalid(file, problem.field ? `key.${problem.field}` : 'key', problem.problem);
  // The seed's own config files carry a free-text "comment".
  if (c.comment !== undefined && typeof c.comment !== 'string') throw invalid(file, 'comment', 'must be a string');
  for (const field of Object.keys(c)) {
    if (field !== 'client' && field !== 'server' && field !== 'key' && field !== 'comment') throw invalid(file, field, 'is not a known field');
  }
  return { client: c.client, server: c.server, key: c.key as KeySpec };
}
