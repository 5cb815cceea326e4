// Strict codecs: Node's decoders skip characters outside the alphabet and accept non-canonical
// tails, so a token is decoded, re-encoded and compared (docs/PROTOCOL.md, "Token encoding").

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function encodeBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** base64url without padding; undefined unless the text is the canonical encoding of its bytes. */
export function decodeBase64urlStrict(text: string): Buffer | undefined {
  if (text.length % 4 === 1 || !BASE64URL.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

/** Standard base64 with padding (the legacy format); canonical only. */
export function decodeBase64Strict(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}
