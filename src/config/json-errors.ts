// A JSON syntax error as jq gives it, with a line and a column: Node 20's JSON.parse names a
// character offset at best, and for a stray token only quotes the text around it. This scanner
// runs only after JSON.parse has refused the text, to find where.

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const LITERAL = /true|false|null/y;

class Stop extends Error {
  constructor(
    readonly offset: number,
    readonly what: string,
  ) {
    super(what);
  }
}

function scan(text: string): void {
  let i = 0;
  const space = (): void => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const token = (re: RegExp): boolean => {
    re.lastIndex = i;
    if (!re.test(text)) return false;
    i = re.lastIndex;
    return true;
  };
  const expect = (c: string, what: string): void => {
    space();
    if (text[i] !== c) throw new Stop(i, what);
    i++;
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === '{') return members('}', () => {
      space();
      if (!token(STRING)) throw new Stop(i, 'expected a property name in double quotes');
      expect(':', "expected ':' after the property name");
      value();
    });
    if (c === '[') return members(']', value);
    if (c === undefined) throw new Stop(i, 'unexpected end of the file');
    if (!token(STRING) && !token(NUMBER) && !token(LITERAL)) throw new Stop(i, c === '"' ? 'a string that is not valid JSON' : `unexpected ${JSON.stringify(c)}`);
  };
  const members = (close: string, one: () => void): void => {
    i++;
    space();
    if (text[i] === close) return void i++;
    for (;;) {
      one();
      space();
      if (text[i] === close) return void i++;
      if (text[i] !== ',') throw new Stop(i, text[i] === undefined ? 'unexpected end of the file' : `expected ',' or '${close}'`);
      i++;
    }
  };
  value();
  space();
  if (i < text.length) throw new Stop(i, 'unexpected text after the JSON value');
}

/** "line L, column C: what" for a text that JSON.parse refused. */
export function jsonSyntaxError(text: string): string {
  try {
    scan(text);
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    const before = text.slice(0, e.offset);
    const line = before.split('\n').length;
    const column = e.offset - before.lastIndexOf('\n');
    return `line ${line}, column ${column}: ${e.what}`;
  }
  return 'not valid JSON';
}
