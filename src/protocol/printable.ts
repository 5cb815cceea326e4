// Text that did not come from an authenticated response (a server's plain error body, a redirect's
// Location, a token's unverified fields) is shown with its control characters escaped: anyone on
// the path could otherwise retitle the terminal, clear it or forge lines in it.

// C0 controls and DEL, C1 controls, and the bidirectional overrides that reorder what is shown.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** `s` with every control character written as \xHH or \uHHHH, and at most `max` characters of it. */
export function printable(s: string, max = 500): string {
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return cut.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
