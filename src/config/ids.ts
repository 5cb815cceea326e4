const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Client ids appear in logs, Redis keys and file names: keep them to a safe alphabet. */
export const isClientId = (s: string): boolean => CLIENT_ID.test(s);

/** The rule, in words, for every message that names it (docs/PROTOCOL.md, "The outer request"). */
export const CLIENT_ID_RULE = 'letters, digits, ".", "_" or "-", starting with a letter or digit, at most 64';
