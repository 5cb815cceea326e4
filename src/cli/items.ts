import { readFile } from 'node:fs/promises';
import { errnoCode, PsimbolsError } from '../errors.js';

// Request items in httpie's grammar, adapted so that `n=3` sends a number:
//   key=value   a JSON number, true, false or null when the value is exactly that literal, else a string
//   key:=json   raw JSON
//   key=@file   the file's text (same literal rule);  key:=@file  the file's JSON

type Item = { readonly key: string; readonly json: boolean; readonly file: boolean; readonly text: string };

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

const usage = (item: string, problem: string): PsimbolsError => new PsimbolsError('usage', `bad item ${JSON.stringify(item)}: ${problem}`);

export function parseItem(item: string): Item {
  const m = /^([^=:]*)(:=|=)(.*)$/s.exec(item);
  if (!m) throw usage(item, 'expected key=value or key:=json');
  const [, key = '', op, rest = ''] = m;
  if (!KEY.test(key)) throw usage(item, 'the key must be a parameter name (letters, digits, "_")');
  const file = rest.startsWith('@');
  return { key, json: op === ':=', file, text: file ? rest.slice(1) : rest };
}

/** The literal rule: `007` stays a string (it is not how JSON writes a number), `3` does not. */
export function literal(text: string): unknown {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (text === 'null') return null;
  if (NUMBER.test(text)) {
    const n = Number(text);
    if (Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n))) return n;
  }
  return text;
}

function itemValue(item: Item, raw: string, original: string): unknown {
  if (!item.json) return literal(item.file ? raw.replace(/\r?\n$/, '') : raw);
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw usage(original, `not valid JSON (${(e as Error).message})`);
  }
}

/** Builds the params object; `@file` paths are read here, relative to the working directory. */
export async function paramsFromItems(items: readonly string[], base: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const params: Record<string, unknown> = { ...base };
  for (const original of items) {
    const item = parseItem(original);
    let raw = item.text;
    if (item.file) {
      if (!item.text) throw usage(original, 'a file name must follow "@"');
      try {
        raw = await readFile(item.text, 'utf8');
      } catch (e) {
        throw usage(original, `cannot read ${item.text} (${errnoCode(e) ?? 'error'})`);
      }
    }
    params[item.key] = itemValue(item, raw, original);
  }
  return params;
}
