/**
 * Secret references: a whole config string `{{name.key}}`. Same grammar as ZenML: no whitespace
 * anywhere, split at the first dot (so names cannot contain dots and keys can).
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
