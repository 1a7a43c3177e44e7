import { InvalidNameError } from '../errors.js';

/** A flavor's naming rule for secret names and namespaces, on top of the core rule. */
export interface NameRule {
  /** Full-match pattern for one name. */
  pattern: RegExp;
  maxLength: number;
  /**
   * Limit on the whole backend name (scope path, separators and name), where the backend counts
   * that rather than the name: AWS allows 512 characters in all.
   */
  maxScopedLength?: number;
  /**
   * The backend (and ZenML's flavor for it) allows '.' in names and namespaces. Such names work
   * everywhere except in `{{name.key}}` references, whose name ends at the first '.'.
   * @default false
   */
  dots?: boolean;
  /** "must contain only …", shown in errors. */
  description: string;
}

/** Longest name where no flavor rule applies (component names, flavors without their own limit). */
export const MAX_NAME_LENGTH = 128;
export const MAX_KEY_LENGTH = 256;

// `/` separates scope paths, so it never appears in a name; `.` ends the name in `{{name.key}}`
// references, so it is allowed only where the backend allows it (NameRule.dots) and ZenML wrote
// such names; whitespace and control characters are never intended and break shells and tables.
// Control and invisible format characters, spelled out: a \p{Cc}/\p{Cf} regex costs several ms to
// compile, which every CLI call would pay.
const INVISIBLE =
  '\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb';
const FORBIDDEN_IN_NAME = new RegExp(`[./\\s${INVISIBLE}]`);
const FORBIDDEN_IN_DOTTED_NAME = new RegExp(`[/\\s${INVISIBLE}]`);
const FORBIDDEN_IN_KEY = new RegExp(`[\\s${INVISIBLE}]`);

/**
 * Checks a secret name (or namespace) against the core rule and the flavor's. `scopePathLength` is
 * the length of the scope path and separator in front of the name in the backend, for rules with
 * a `maxScopedLength`.
 */
export function validateSecretName(name: string, rule?: NameRule, what = 'secret name', scopePathLength = 0): void {
  if (name.length === 0) throw new InvalidNameError(what, name, 'must not be empty');
  let max = rule?.maxLength ?? MAX_NAME_LENGTH;
  if (rule?.maxScopedLength !== undefined) max = Math.min(max, rule.maxScopedLength - scopePathLength);
  if (name.length > max) {
    const scoped =
      rule?.maxScopedLength !== undefined && scopePathLength > 0
        ? ` here (the backend allows ${rule.maxScopedLength} with the ${scopePathLength}-character scope path)`
        : '';
    throw new InvalidNameError(what, name, `must be at most ${Math.max(max, 0)} characters long${scoped}`);
  }
  if ((rule?.dots ? FORBIDDEN_IN_DOTTED_NAME : FORBIDDEN_IN_NAME).test(name)) {
    throw new InvalidNameError(
      what,
      name,
      rule?.dots
        ? "must not contain '/', whitespace or control characters"
        : "must not contain '.', '/', whitespace or control characters",
    );
  }
  if (rule && !fullMatch(rule.pattern, name)) throw new InvalidNameError(what, name, rule.description);
}

/** Keys that hold keystack's own metadata next to the values in every backend layout. */
export function reservedKeys(scopePrefix: string): ReadonlySet<string> {
  return new Set(['name', 'keystack_schema_name', 'zenml_schema_name', `${scopePrefix}_schema_name`]);
}

export function validateSecretKey(key: string, scopePrefix = 'keystack'): void {
  if (key.length === 0) throw new InvalidNameError('secret key', key, 'must not be empty');
  if (key.length > MAX_KEY_LENGTH) {
    throw new InvalidNameError('secret key', key, `must be at most ${MAX_KEY_LENGTH} characters long`);
  }
  if (FORBIDDEN_IN_KEY.test(key)) {
    throw new InvalidNameError('secret key', key, 'must not contain whitespace or control characters');
  }
  // Assigning it to a plain object sets the object's prototype instead of storing a key.
  if (key === '__proto__') throw new InvalidNameError('secret key', key, "must not be '__proto__'");
  if (reservedKeys(scopePrefix).has(key)) {
    throw new InvalidNameError(
      'secret key',
      key,
      `must not be a reserved key (${[...reservedKeys(scopePrefix)].join(', ')})`,
    );
  }
}

const anchored = new WeakMap<RegExp, RegExp>();

export function fullMatch(pattern: RegExp, value: string): boolean {
  let re = anchored.get(pattern);
  if (!re) anchored.set(pattern, (re = new RegExp(`^(?:${pattern.source})$`, pattern.flags.replace('g', ''))));
  return re.test(value);
}
