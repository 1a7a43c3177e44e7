/**
 * Version pins: `name@V` in step declarations, `-s name@V` and `{{name@V.key}}`. The pin is what
 * follows the last `@`, and only when that text is a version token; aws, vault and local names may
 * contain `@`, so `a@b` (no token after it) is the secret `a@b`, unpinned.
 */

export interface PinnedName {
  name: string;
  /** The version token, or undefined when the name carries no pin. */
  version: string | undefined;
}

/** Digits, a UUID, 32 hex digits (aws and azure ids), or the two labels every versioned backend has. */
const VERSION_TOKEN =
  /^(?:\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}|previous|current)$/iu;

export function isVersionToken(text: string): boolean {
  return VERSION_TOKEN.test(text);
}

export function splitPin(text: string): PinnedName {
  const at = text.lastIndexOf('@');
  if (at <= 0) return { name: text, version: undefined };
  const version = text.slice(at + 1);
  return isVersionToken(version) ? { name: text.slice(0, at), version } : { name: text, version: undefined };
}
