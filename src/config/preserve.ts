import { isDeepStrictEqual } from 'node:util';
import { isObject } from '../protocol/messages.js';

// An edit keeps the file's own fields, as git config does: what a command did not change stays as
// the person wrote it (absent fields stay absent, so later changes to the defaults reach them),
// and only what changed is written, in the file's own order.

type Json = Record<string, unknown>;

// One section: kept as written when the edit left it alone, else the edited value; a client
// section is compared client by client.
function section(key: string, raw: unknown, before: unknown, after: unknown): unknown {
  if (isDeepStrictEqual(before, after)) return raw;
  if (key !== 'clients' || !isObject(before) || !isObject(after)) return after;
  const written: Json = isObject(raw) ? raw : {};
  const out: Json = {};
  for (const [id, entry] of Object.entries(written)) if (id in after) out[id] = isDeepStrictEqual(before[id], after[id]) ? entry : after[id];
  for (const [id, entry] of Object.entries(after)) if (!(id in out)) out[id] = entry;
  return out;
}

/** The file's JSON with `after`'s changes from `before` applied, section by section. */
export function preserveFields(raw: unknown, before: Json, after: Json): Json {
  const file: Json = isObject(raw) ? raw : {};
  const out: Json = {};
  for (const key of new Set([...Object.keys(file), ...Object.keys(after)])) {
    if (!(key in after)) continue;
    const value = section(key, file[key], before[key], after[key]);
    if (value !== undefined) out[key] = value;
  }
  return out;
}
