import { isObject } from './messages.js';

// The outer JSON of the original design: {"client", "server", "request"} and {"client", "server", "response"}.

export type OuterRequest = { readonly client: string; readonly server: string | undefined; readonly request: string };
export type OuterResponse = { readonly client: string; readonly server: string | undefined; readonly response: string };


/** Undefined when the body is not an object with string `client` and `request` (and, if present, string `server`). */
export function parseOuterRequest(value: unknown): OuterRequest | undefined {
  if (!isObject(value)) return undefined;
  const { client, server, request } = value;
  if (typeof client !== 'string' || typeof request !== 'string') return undefined;
  if (server !== undefined && typeof server !== 'string') return undefined;
  return { client, server, request };
}

export function parseOuterResponse(value: unknown): OuterResponse | undefined {
  if (!isObject(value)) return undefined;
  const { client, server, response } = value;
  if (typeof client !== 'string' || typeof response !== 'string') return undefined;
  if (server !== undefined && typeof server !== 'string') return undefined;
  return { client, server, response };
}
