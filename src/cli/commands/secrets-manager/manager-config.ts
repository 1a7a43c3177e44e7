/** What the `secrets-manager` commands share: the one view of a manager, and the config they take as --KEY=VALUE. */
import { UsageError } from '../../../errors.js';
import type { ComponentRecord } from '../../../stack/config-store.js';
import { parseExtraArgs } from '../../input.js';
import { redactConfig } from '../../output.js';
import type { CommandContext } from '../../context.js';

/**
 * A manager's own credentials cannot be references, so a plain value is stored as given: the
 * warnings that say so, for after the change is made. The values are masked from here on.
 */
export async function sensitiveWarnings(
  ctx: CommandContext,
  flavorName: string,
  config: Record<string, unknown>,
): Promise<string[]> {
  const warnings: string[] = [];
  const flavor = await ctx.keystack().flavors.get(flavorName);
  for (const [key, value] of Object.entries(config)) {
    if (value === null) continue; // a removal stores nothing
    const field = flavor.config[key];
    if (!field?.sensitive) continue;
    // Whatever this command prints from here on (an error quoting the config, say) masks it.
    ctx.out.sensitive([String(config[key])]);
    const instead = field.env ? ` Leave it out and set ${field.env} in the environment instead.` : '';
    warnings.push(`'${key}' is a credential; it is stored in plain text in the config store.${instead}`);
  }
  return warnings;
}

/** `NAME --KEY=VALUE …`; with `emptyRemoves`, `--KEY=` becomes null (remove the field). */
export function nameAndConfig(
  args: readonly string[],
  { emptyRemoves = false } = {},
): { name: string; config: Record<string, unknown> } {
  const { positionals, pairs } = parseExtraArgs(args);
  const [name, ...rest] = positionals;
  if (name === undefined) throw new UsageError('a secrets manager name is required');
  if (rest.length > 0)
    throw new UsageError(`unexpected argument '${rest[0]}'`, 'Config values are given as --KEY=VALUE.');
  const config: Record<string, unknown> = {};
  for (const [k, v] of pairs) config[k] = emptyRemoves && v === '' ? null : v;
  return { name, config };
}

export function scopeText(r: ComponentRecord): string {
  const scope = String(r.config['scope']);
  return scope === 'namespace' ? `namespace scope '${String(r.config['namespace'])}'` : `${scope} scope`;
}

/** The one view of a manager that every command prints: sensitive config is `***`. */
export async function view(ctx: CommandContext, r: ComponentRecord) {
  // A flavor whose module no longer loads: nothing says which fields are safe, so all are hidden.
  const fields = await ctx
    .keystack()
    .flavors.get(r.flavor)
    .then(
      (f) => f.config,
      () => undefined,
    );
  return { name: r.name, id: r.uuid, flavor: r.flavor, config: redactConfig(fields, r.config), createdAt: r.createdAt };
}
