/**
 * ZenML 0.30's scoped layout on backends that tag objects (gcp labels, azure tags): whether an
 * object belongs to a scope, and under which keystack name. aws filters on the server instead.
 */
import { InvalidNameError } from '../../errors.js';
import { fullMatch, type NameRule } from '../../secrets/names.js';
import { looksScoped, scopeMetadata, type BackendNames, type ScopeContext } from '../../secrets/scope.js';

/**
 * In scope `none`, a name that looks like a scoped id (`<prefix>-global-…`) belongs to no unscoped
 * secret: with a separator that names may contain, it would reach into scoped managers' secrets.
 */
export function reservedInNone(scope: ScopeContext, name: string, sep: string): boolean {
  return scope.scope === 'none' && looksScoped(scope.prefix, name, sep);
}

/** What a register of such a name in scope `none` fails with. */
export function reservedNameError(scope: ScopeContext, name: string): InvalidNameError {
  return new InvalidNameError(
    'secret name',
    name,
    `names starting with '${scope.prefix}-global-', '-component-' or '-namespace-' are reserved for scoped secrets`,
  );
}

/** Whether every scope tag of `scope` is on the object (scoped), or it has no scope tag (`none`). */
export function tagsInScope(scope: ScopeContext, tags: Readonly<Record<string, string>>): boolean {
  if (scope.scope === 'none') return !(`${scope.prefix}_scope` in tags);
  return Object.entries(scopeMetadata(scope)).every(([k, v]) => tags[k] === v);
}

/**
 * The keystack name of a listed object in this scope, or null. Tags decide, then the backend name
 * must agree with the name they give (`fold` for backends that match names case-insensitively).
 * In `none`, the object's own name, if it is a valid name that does not look scoped.
 */
export function taggedName(
  scope: ScopeContext,
  names: BackendNames,
  id: string,
  tags: Readonly<Record<string, string>>,
  sep: string,
  valid: (name: string) => boolean,
  fold: (s: string) => string = (s) => s,
): string | null {
  if (!tagsInScope(scope, tags)) return null;
  if (scope.scope === 'none') return !looksScoped(scope.prefix, id, sep) && valid(id) ? id : null;
  const name = tags[`${scope.prefix}_secret_name`];
  return name && fold(names.full(name)) === fold(id) ? name : null;
}

/** Whether a listed object's own name is a valid secret name under `rule` (for taggedName's `valid`). */
export function validUnder(rule: NameRule): (name: string) => boolean {
  return (n) => n.length <= rule.maxLength && fullMatch(rule.pattern, n);
}
