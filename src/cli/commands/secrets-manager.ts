/** `keystack secrets-manager …`: registering and inspecting secrets managers and flavors. */
import { UsageError } from '../../errors.js';
import { DEFAULT_STACK, type ComponentRecord } from '../../stack/config-store.js';
import { confirmOrAbort } from '../confirm.js';
import { parseExtraArgs } from '../input.js';
import { redactConfig, table } from '../output.js';
import type { CommandContext, CommandResult } from '../context.js';

export interface ManagerRegisterOptions {
  args: readonly string[];
  flavor: string;
  scope?: string | undefined;
  namespace?: string | undefined;
  /** Adopt an existing manager's identity (its component-scoped secrets live under it). */
  uuid?: string | undefined;
}

export async function managerRegister(ctx: CommandContext, o: ManagerRegisterOptions): Promise<CommandResult> {
  const { name, config } = nameAndConfig(o.args);
  if (o.scope !== undefined) config['scope'] = o.scope;
  if (o.namespace !== undefined) config['namespace'] = o.namespace;
  const ks = ctx.keystack();
  const warnings = await sensitiveWarnings(ctx, o.flavor, config);
  const rec = await ks.registerSecretsManager({ name, flavor: o.flavor, config, uuid: o.uuid });
  // Warned only once the registration stands: a refused one stored nothing to warn about.
  for (const w of warnings) ctx.out.warn(w);
  return {
    data: await view(ctx, rec),
    text: `Registered secrets manager '${name}' (flavor ${rec.flavor}, ${scopeText(rec)}, id ${rec.uuid}).\n${useHint(ctx, name)}`,
  };
}

export async function managerList(ctx: CommandContext): Promise<CommandResult> {
  const ks = ctx.keystack();
  const active = ks.stackComponent(ks.activeStack(), 'secrets_manager')?.uuid;
  const recs = ks.store.listComponents('secrets_manager');
  const rows = recs.map((r) => [
    r.uuid === active ? '*' : '',
    r.name,
    r.flavor,
    String(r.config['scope']),
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- config values are JSON scalars (the flavor's schema checked them); String() is their display
    String(r.config['namespace'] ?? ''),
    r.uuid,
  ]);
  return {
    data: {
      managers: await Promise.all(recs.map(async (r) => ({ ...(await view(ctx, r)), active: r.uuid === active }))),
    },
    text: table(['ACTIVE', 'NAME', 'FLAVOR', 'SCOPE', 'NAMESPACE', 'ID'], rows),
  };
}

export async function managerDescribe(ctx: CommandContext, o: { name?: string | undefined }): Promise<CommandResult> {
  const ks = ctx.keystack();
  const manager = await ks.secretsManager(o.name);
  const rec = ks.store.getComponent('secrets_manager', manager.uuid);
  const stacks = ks.store.stacksUsing(rec.uuid);
  const config = redactConfig(manager.flavor.config, rec.config);
  const rows = [
    ['name', rec.name],
    ['id', rec.uuid],
    ['flavor', rec.flavor],
    ['scope', String(rec.config['scope'])],
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- config values are JSON scalars (the flavor's schema checked them); String() is their display
    ...(rec.config['namespace'] !== undefined ? [['namespace', String(rec.config['namespace'])]] : []),
    ['scope_prefix', String(rec.config['scope_prefix'])],
    ...Object.entries(config)
      .filter(([k]) => !['scope', 'namespace', 'scope_prefix'].includes(k))
      .map(([k, v]) => [k, String(v)]),
    ['stacks', stacks.join(', ') || '(none)'],
  ];
  return { data: { ...(await view(ctx, rec)), stacks }, text: table(['PROPERTY', 'VALUE'], rows) };
}

export async function managerUpdate(
  ctx: CommandContext,
  o: {
    args: readonly string[];
    scope?: string | undefined;
    namespace?: string | undefined;
    force?: boolean | undefined;
  },
): Promise<CommandResult> {
  // `--KEY=` removes the field, as for other components: storing "" would hide its env variable.
  const { name, config } = nameAndConfig(o.args, { emptyRemoves: true });
  if (o.scope !== undefined) config['scope'] = o.scope;
  if (o.namespace !== undefined) config['namespace'] = o.namespace;
  if (Object.keys(config).length === 0)
    throw new UsageError('nothing to change', 'Pass --KEY=VALUE, --scope or --namespace.');
  const warnings = await sensitiveWarnings(
    ctx,
    ctx.keystack().store.getComponent('secrets_manager', name).flavor,
    config,
  );
  const rec = await ctx.keystack().updateSecretsManager(name, config, { force: o.force ?? false });
  for (const w of warnings) ctx.out.warn(w);
  return { data: await view(ctx, rec), text: `Updated secrets manager '${name}' (${scopeText(rec)}).` };
}

export async function managerDelete(
  ctx: CommandContext,
  o: { name: string; yes?: boolean | undefined },
): Promise<CommandResult> {
  const ks = ctx.keystack();
  const found = ks.store.getComponent('secrets_manager', o.name);
  // A manager in use is refused (by the store) before anyone is asked.
  if (ks.store.stacksUsing(found.uuid).length === 0) {
    await confirmOrAbort(
      ctx,
      `Delete the registration of secrets manager '${found.name}'? Its secrets stay in the backend.`,
      o.yes,
    );
  }
  const rec = await ks.deleteSecretsManager(o.name);
  return {
    data: { ...(await view(ctx, rec)), deleted: true },
    text: `Deleted secrets manager '${rec.name}'. Its secrets stay in the backend; a manager registered later with the same flavor and scope settings (and, for component scope, the same id) can see them again.`,
  };
}

export async function flavorList(ctx: CommandContext): Promise<CommandResult> {
  const flavors = await ctx.keystack().flavors.list();
  const items = flavors.map(({ flavor, source }) => ({
    name: flavor.name,
    scoping: flavor.supportsScoping,
    source,
    description: flavor.description + (flavor.capabilities.note ? ` (${flavor.capabilities.note})` : ''),
  }));
  const rows = items.map((i) => [i.name, i.scoping ? 'yes' : 'no', i.source, i.description]);
  // A registered module that no longer loads is shown, not fatal: this is where users look for it.
  for (const b of await ctx.keystack().pluginFailures()) {
    const reason = (b.error instanceof Error ? b.error.message : String(b.error)).split('\n', 1)[0] ?? '';
    ctx.out.warn(
      `registered module ${b.module} failed to load: ${reason}. Fix it, or remove it with \`keystack secrets-manager flavor unregister ${b.module}\`.`,
    );
  }
  return { data: { flavors: items }, text: table(['FLAVOR', 'SCOPING', 'SOURCE', 'DESCRIPTION'], rows) };
}

export async function flavorRegister(ctx: CommandContext, o: { module: string }): Promise<CommandResult> {
  const exported = await ctx.keystack().registerPlugin(o.module, ctx.cwd);
  if (exported.flavors.length === 0) {
    ctx.out.warn(`module ${exported.module} exports no flavor, only schemas; they were registered.`);
  }
  const flavors = exported.flavors.map((f) => f.name);
  const schemas = exported.schemas.map((s) => s.name);
  return {
    data: { module: exported.module, flavors, schemas },
    text: `Registered ${exported.module}: flavors ${flavors.join(', ') || '(none)'}; schemas ${schemas.join(', ') || '(none)'}.`,
  };
}

export async function flavorUnregister(ctx: CommandContext, o: { module: string }): Promise<CommandResult> {
  const r = await ctx.keystack().unregisterPlugin(o.module, ctx.cwd);
  return {
    data: { ...r, unregistered: true },
    text: `Unregistered ${r.module}${r.flavors.length ? ` (flavors ${r.flavors.join(', ')})` : ''}.`,
  };
}

// --- Internal helpers ---

/**
 * A command that works on a new manager: `stack update -x` where the active stack may change,
 * else a new stack (the default stack cannot be changed).
 */
function useHint(ctx: CommandContext, name: string): string {
  const active = ctx.keystack().store.activeStackName();
  if (active !== DEFAULT_STACK)
    return `Use it with: keystack stack update ${active} -x ${name}   (or a new stack: keystack stack register STACK -x ${name} --set)`;
  return `Use it with: keystack stack register STACK -x ${name} --set   (a new stack with this manager, made active), or pick it per command: keystack secret list -m ${name}`;
}

/**
 * A manager's own credentials cannot be references, so a plain value is stored as given: the
 * warnings that say so, for after the change is made. The values are masked from here on.
 */
async function sensitiveWarnings(
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
function nameAndConfig(
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

function scopeText(r: ComponentRecord): string {
  const scope = String(r.config['scope']);
  return scope === 'namespace' ? `namespace scope '${String(r.config['namespace'])}'` : `${scope} scope`;
}

/** The one view of a manager that every command prints: sensitive config is `***`. */
async function view(ctx: CommandContext, r: ComponentRecord) {
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
