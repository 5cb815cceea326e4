import { PsimbolsError } from '../errors.js';
import type { ReadInput } from './inputs.js';

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

/**
 * The literal rule: `007` stays a string (it is not how JSON writes a number), `3` does not, and an
 * integer beyond 2^53 stays a string of digits, so that no digit is lost on the way.
 */
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

// A JSON number beyond 2^53 would lose digits on its way: refused, with the way that keeps them.
const keepDigits =
  (original: string) =>
  (_key: string, value: unknown): unknown => {
    if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value)) {
      throw usage(original, 'a number this large loses digits as JSON: send it as a string of digits, as key=DIGITS does');
    }
    return value;
  };

function itemValue(item: Item, raw: string, original: string): unknown {
  if (!item.json) return literal(item.file ? raw.replace(/\r?\n$/, '') : raw);
  try {
    return JSON.parse(raw, keepDigits(original));
  } catch (e) {
    if (e instanceof PsimbolsError) throw e;
    throw usage(original, `not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Builds the params object; `@file` paths are read here, relative to the working directory, and
 * `@-` is standard input. A key given twice is refused: the last one silently winning hides typos.
 */
export async function paramsFromItems(items: readonly string[], read: ReadInput, base: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const params: Record<string, unknown> = { ...base };
  const given = new Set<string>();
  for (const original of items) {
    const item = parseItem(original);
    if (given.has(item.key)) throw usage(original, `${item.key} is given twice`);
    given.add(item.key);
    if (item.file && !item.text) throw usage(original, 'a file name (or - for standard input) must follow "@"');
    const raw = item.file ? await read(item.text, `item ${JSON.stringify(original)}`) : item.text;
    params[item.key] = itemValue(item, raw, original);
  }
  return params;
}
