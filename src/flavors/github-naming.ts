/**
 * github's backend names: GitHub allows only `[A-Z0-9_]` (stored upper-case, matched
 * case-insensitively), so the scope path is joined with `__` and a keystack name, whose words are
 * joined by single underscores, never contains `__`: the mapping is injective for every scope.
 */
import { ConfigError, InvalidNameError } from '../errors.js';
import { scopePath, type BackendNames, type ScopeContext } from '../secrets/scope.js';

/** Keystack name ⇄ GitHub secret name for one scope. */
export function githubNaming(scope: ScopeContext): BackendNames {
  const prefix = scope.prefix;
  if (scope.scope !== 'none' && (/__|_$/.test(prefix) || /^github/.test(prefix))) {
    throw new ConfigError(`the github flavor cannot use the scope_prefix '${prefix}'`, {
      hint: "GitHub names join the scope path with '__' and refuse a GITHUB_ prefix: use a prefix without '__', a trailing '_' or a leading 'github'.",
    });
  }
  const path = scopePath(scope).map((p) => p.replace(/-/g, '_').toUpperCase());
  const head = path.length ? `${path.join('__')}__` : '';
  return {
    prefix: head,
    full(name) {
      if (scope.scope === 'none' && (/^[0-9]/.test(name) || name.startsWith('github_'))) {
        throw new InvalidNameError(
          'secret name',
          name,
          "an unscoped GitHub secret name must not start with a digit or 'github_'",
        );
      }
      return head + name.toUpperCase();
    },
    parse(full) {
      const upper = full.toUpperCase();
      if (!upper.startsWith(head)) return null;
      const rest = upper.slice(head.length);
      return /^[A-Z0-9]+(?:_[A-Z0-9]+)*$/.test(rest) ? rest.toLowerCase() : null;
    },
  };
}
