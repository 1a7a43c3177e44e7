/**
 * How a manager's secret names map into its backend domain (DESIGN §4). These are pure functions
 * shared by every flavor, so the layout is the same everywhere and matches ZenML 0.30's when the
 * prefix is `zenml`.
 */

export const SCOPES = ['none', 'global', 'component', 'namespace'] as const;
export type Scope = (typeof SCOPES)[number];
export const DEFAULT_SCOPE_PREFIX = 'keystack';

export function isScope(s: string): s is Scope {
  return (SCOPES as readonly string[]).includes(s);
}

/** Everything that decides where a manager's secrets live. */
export interface ScopeContext {
  scope: Scope;
  /** Only meaningful for `namespace` scope. */
  namespace?: string | undefined;
  componentUuid: string;
  componentName: string;
  /** `scope_prefix`, `keystack` by default. */
  prefix: string;
}

export function scopePath(ctx: ScopeContext): string[] {
  switch (ctx.scope) {
    case 'none':
      return [];
    case 'global':
      return [ctx.prefix, 'global'];
    case 'component':
      return [ctx.prefix, 'component', ctx.componentUuid];
    case 'namespace':
      return [ctx.prefix, 'namespace', ctx.namespace ?? ''];
  }
}

export function scopedName(ctx: ScopeContext, name: string, sep = '/'): string {
  return [...scopePath(ctx), name].join(sep);
}

/** The scope path plus a trailing separator; empty for `none`. */
export function scopedPrefix(ctx: ScopeContext, sep = '/'): string {
  const path = scopePath(ctx);
  return path.length === 0 ? '' : path.join(sep) + sep;
}

/**
 * The secret name inside a backend name, or null when the backend name is not in this scope.
 * With `none`, a name containing the separator belongs to no manager and is ignored.
 */
export function unscopedName(ctx: ScopeContext, full: string, sep = '/'): string | null {
  const parts = full.split(sep);
  const name = parts.pop();
  if (name === undefined || name === '') return null;
  const path = scopePath(ctx);
  if (parts.length !== path.length) return null;
  return parts.every((p, i) => p === path[i]) ? name : null;
}

/**
 * How one scope's secret names map to backend names: the core builds this once per manager and
 * gives it to the backend (`FlavorContext.names`), so every flavor lays out names the same way.
 */
export interface BackendNames {
  /** What every backend name of this scope starts with; empty for `none`. */
  readonly prefix: string;
  /** The backend name of a secret of this scope. */
  full(name: string): string;
  /** The secret name inside a backend name, or null when no secret of this scope has it. */
  parse(full: string): string | null;
}

/**
 * Backend names joined with `sep`. `isName` is the flavor's name rule: a backend object whose
 * remainder is no valid name (another tool's object, a deeper path) belongs to no secret, so it
 * is never listed. In `none`, names that look scoped are reserved for scoped managers.
 */
export function backendNames(ctx: ScopeContext, sep: string, isName: (name: string) => boolean): BackendNames {
  const prefix = scopedPrefix(ctx, sep);
  return {
    prefix,
    full: (name) => prefix + name,
    parse(full) {
      if (!full.startsWith(prefix)) return null;
      const name = full.slice(prefix.length);
      if (name === '' || !isName(name)) return null;
      return ctx.scope === 'none' && looksScoped(ctx.prefix, name, sep) ? null : name;
    },
  };
}

/**
 * Whether a backend name sits where scoped secrets live (`P<sep>global<sep>…`, `…component…`,
 * `…namespace…`). With a separator that names may contain (`-`), an unscoped manager must neither
 * create nor list such names, or it would reach into scoped managers' secrets. Case-insensitive,
 * because some backends (Key Vault) match names that way.
 */
export function looksScoped(scopePrefix: string, id: string, sep: string): boolean {
  const n = id.toLowerCase();
  return ['global', 'component', 'namespace'].some((s) => n.startsWith(`${scopePrefix}${sep}${s}${sep}`.toLowerCase()));
}

/** Tags that select this scope (and one secret, if named). Empty for `none`. */
export function scopeMetadata(ctx: ScopeContext, name?: string): Record<string, string> {
  if (ctx.scope === 'none') return {};
  const p = ctx.prefix;
  const m: Record<string, string> = { [`${p}_scope`]: ctx.scope };
  if (name !== undefined) m[`${p}_secret_name`] = name;
  if (ctx.scope === 'namespace') m[`${p}_namespace`] = ctx.namespace ?? '';
  if (ctx.scope === 'component') m[`${p}_component_uuid`] = ctx.componentUuid;
  return m;
}

/** Every tag written when a scoped secret is created. Empty for `none`. */
export function secretMetadata(ctx: ScopeContext, name: string, schema: string): Record<string, string> {
  if (ctx.scope === 'none') return {};
  const p = ctx.prefix;
  return {
    ...scopeMetadata(ctx, name),
    [`${p}_component_name`]: ctx.componentName,
    [`${p}_component_uuid`]: ctx.componentUuid,
    [`${p}_secret_schema`]: schema,
  };
}

/** A short human description of where a manager keeps its secrets, for messages. */
export function describeScope(ctx: ScopeContext, managerName: string): string {
  switch (ctx.scope) {
    case 'none':
      return `secrets manager '${managerName}' (unscoped)`;
    case 'namespace':
      return `secrets manager '${managerName}' (namespace '${ctx.namespace ?? ''}')`;
    default:
      return `secrets manager '${managerName}' (${ctx.scope} scope)`;
  }
}
