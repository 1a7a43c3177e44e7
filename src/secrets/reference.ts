/**
 * Secret references: a whole config string `{{name.key}}`. Same grammar as ZenML: no whitespace
 * anywhere, split at the first dot, so keys can contain dots and referenced names cannot (the aws
 * and vault flavors allow dotted names, as ZenML's do; such secrets cannot be referenced).
 */

export interface SecretReference {
  name: string;
  key: string;
}

const REFERENCE = /^\{\{(\S+?)\.(\S+)\}\}$/su;

export function isReference(value: unknown): value is string {
  return typeof value === 'string' && REFERENCE.test(value);
}

export function parseReference(value: string): SecretReference | null {
  const m = REFERENCE.exec(value);
  if (!m || m[1] === undefined || m[2] === undefined) return null;
  return { name: m[1], key: m[2] };
}

/**
 * What is wrong with a string that looks like a reference but is not one, or null when it is a
 * valid reference or does not look like one. A near-miss must not pass as literal text: the run
 * would use the braces themselves as, say, an encryption key.
 */
export function referenceLookalike(value: unknown): string | null {
  if (typeof value !== 'string' || REFERENCE.test(value)) return null;
  const open = value.indexOf('{{');
  const close = value.lastIndexOf('}}');
  if (open === -1) return null; // a lone '}}' is common in JSON text
  if (close < open) return "its braces do not pair up as '{{' … '}}'";
  if (open > 0 || close + 2 < value.length) {
    return /^\s*\{\{[^]*\}\}\s*$/u.test(value)
      ? 'it has whitespace or a newline around the braces'
      : 'it has text outside the braces';
  }
  const inner = value.slice(2, -2);
  if (/\s/u.test(inner)) return 'it has whitespace inside the braces';
  const dot = inner.indexOf('.');
  if (dot === -1) return "it has no '.' between the secret name and the key";
  if (dot === 0) return "the secret name before the '.' is empty";
  return "the key after the '.' is empty";
}

/** How a reference is written, for hints. */
export const REFERENCE_SYNTAX = 'A reference is the whole value, {{NAME.KEY}}, with no spaces, e.g. {{db.password}}.';

export function formatReference(ref: SecretReference): string {
  return `{{${ref.name}.${ref.key}}}`;
}

/** Every reference among a config's string values, de-duplicated. */
export function collectReferences(config: Readonly<Record<string, unknown>>): SecretReference[] {
  const seen = new Map<string, SecretReference>();
  for (const v of Object.values(config)) {
    const ref = typeof v === 'string' ? parseReference(v) : null;
    if (ref) seen.set(formatReference(ref), ref);
  }
  return [...seen.values()];
}

/**
 * Why a reference found no secret, when it looks as if it meant a secret whose name contains '.'
 * (`{{db.v1.password}}` for secret `db.v1`); null otherwise. Goes into the error that refuses it.
 */
export function dottedNameNote(ref: SecretReference): string | null {
  const dot = ref.key.indexOf('.');
  if (dot <= 0) return null;
  return `the secret name of a reference ends at its first '.', so a secret whose name contains '.' (such as '${ref.name}.${ref.key.slice(0, dot)}') cannot be used in {{name.key}} references`;
}

/** The next step for a reference that cannot name its secret because of a '.'. */
export const DOTTED_NAME_HINT =
  "Register the secret again under a name without '.' (`keystack secret register NEWNAME --KEY=...`) and reference it as {{NEWNAME.KEY}}.";
