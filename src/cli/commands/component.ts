/** `keystack orchestrator|artifact-store|container-registry …`: the non-secrets stack components. */
import { UsageError } from '../../errors.js';
import { isReference } from '../../secrets/reference.js';
import { COMPONENT_LABEL, DEFAULT_STACK, type ComponentRecord, type ComponentType } from '../../stack/config-store.js';
import {
  componentFlavor,
  componentFlavors,
  type ComponentFlavor,
  type StackComponentType,
} from '../../stack/components.js';
import { deleteComponent, registerComponent, updateComponent } from '../../stack/component-ops.js';
import { requiresAuthentication } from '../../stack/runtime.js';
import { confirmOrAbort } from '../confirm.js';
import { parseExtraArgs } from '../input.js';
import { redactConfig, table } from '../output.js';
import type { CommandContext, CommandResult } from '../context.js';

export async function componentRegister(
  ctx: CommandContext,
  type: StackComponentType,
  o: { args: readonly string[]; flavor: string },
): Promise<CommandResult> {
  const { name, config } = nameAndConfig(type, o.args, false);
  rememberSensitive(ctx, type, o.flavor, config);
  const { record, warnings } = registerComponent(ctx.keystack(), { type, name, flavor: o.flavor, config });
  for (const w of warnings) ctx.out.warn(w);
  const label = COMPONENT_LABEL[type];
  return {
    data: view(record),
    text: `Registered ${label} '${name}' (flavor ${record.flavor}, id ${record.uuid}).\n${useHint(ctx, type, name)}`,
  };
}

export async function componentList(ctx: CommandContext, type: StackComponentType): Promise<CommandResult> {
  const ks = ctx.keystack();
  const stack = ks.activeStack();
  const active = new Set(type === 'step_operator' ? stack.stepOperators : [ks.stackComponent(stack, type)?.uuid]);
  const recs = ks.store.listComponents(type);
  const rows = recs.map((r) => [
    active.has(r.uuid) ? '*' : '',
    r.name,
    r.flavor,
    ks.store.stacksUsing(r.uuid).join(', '),
    r.uuid,
  ]);
  return {
    data: { components: recs.map((r) => ({ ...view(r), active: active.has(r.uuid) })) },
    text: recs.length
      ? table(['ACTIVE', 'NAME', 'FLAVOR', 'STACKS', 'ID'], rows)
      : `No ${COMPONENT_LABEL[type]} registered.`,
  };
}

export async function componentDescribe(
  ctx: CommandContext,
  type: StackComponentType,
  o: { name?: string | undefined },
): Promise<CommandResult> {
  const ks = ctx.keystack();
  const label = COMPONENT_LABEL[type];
  let rec: ComponentRecord | undefined;
  if (o.name === undefined) {
    const stack = ks.activeStack();
    // A stack may hold several step operators: only a single one is "the stack's".
    const ops = type === 'step_operator' ? ks.stackStepOperators(stack) : [];
    rec = type === 'step_operator' ? (ops.length === 1 ? ops[0] : undefined) : ks.stackComponent(stack, type);
    if (!rec) {
      throw new UsageError(
        ops.length > 1
          ? `the active stack '${stack.name}' has ${ops.length} step-operators`
          : `the active stack '${stack.name}' has no ${label}`,
        `Name one: keystack ${label} describe NAME.`,
      );
    }
  } else rec = ks.store.getComponent(type, o.name);
  const flavor = componentFlavor(type, rec.flavor);
  const stacks = ks.store.stacksUsing(rec.uuid);
  // References are stored and shown as text; a plain sensitive value is never shown.
  const config = redactConfig(flavor.config, rec.config);
  const fieldRows = Object.entries(flavor.config).map(([k, f]) => {
    const v = config[k];
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- config values are JSON scalars (the flavor's schema checked them); String() is their display
    const shown = v === undefined ? (f.default !== undefined ? `${String(f.default)} (default)` : '') : String(v);
    return [k, shown];
  });
  const extra: string[][] =
    type === 'container_registry' ? [['requires_authentication', String(requiresAuthentication(rec))]] : [];
  const rows = [
    ['name', rec.name],
    ['id', rec.uuid],
    ['flavor', rec.flavor],
    ...fieldRows,
    ...extra,
    ['stacks', stacks.join(', ') || '(none)'],
  ];
  return {
    data: {
      ...view(rec),
      config,
      stacks,
      ...(type === 'container_registry' ? { requiresAuthentication: requiresAuthentication(rec) } : {}),
    },
    text: `${label[0]?.toUpperCase()}${label.slice(1)} '${rec.name}':\n${table(['PROPERTY', 'VALUE'], rows)}`,
  };
}

export async function componentUpdate(
  ctx: CommandContext,
  type: StackComponentType,
  o: { args: readonly string[] },
): Promise<CommandResult> {
  const { name, config } = nameAndConfig(type, o.args, true);
  rememberSensitive(ctx, type, ctx.keystack().store.getComponent(type, name).flavor, config);
  const { record, warnings } = updateComponent(ctx.keystack(), type, name, config);
  for (const w of warnings) ctx.out.warn(w);
  return { data: view(record), text: `Updated ${COMPONENT_LABEL[type]} '${record.name}'.` };
}

export async function componentDelete(
  ctx: CommandContext,
  type: StackComponentType,
  o: { name: string; yes?: boolean | undefined },
): Promise<CommandResult> {
  const ks = ctx.keystack();
  const found = ks.store.getComponent(type, o.name);
  // A component in use is refused (by the store) before anyone is asked.
  if (ks.store.stacksUsing(found.uuid).length === 0)
    await confirmOrAbort(ctx, `Delete ${COMPONENT_LABEL[type]} '${found.name}'?`, o.yes);
  const rec = deleteComponent(ks, type, o.name);
  return { data: { ...view(rec), deleted: true }, text: `Deleted ${COMPONENT_LABEL[type]} '${rec.name}'.` };
}

export async function componentFlavorList(_ctx: CommandContext, type: StackComponentType): Promise<CommandResult> {
  const flavors = componentFlavors(type);
  const rows = flavors.map((f) => [
    f.name,
    f.description,
    Object.entries(f.config)
      .map(([k, c]) => `${k}${c.required ? '' : '?'}${c.sensitive ? ' (sensitive)' : ''}`)
      .join(', ') || '-',
  ]);
  return {
    data: {
      flavors: flavors.map((f) => ({
        name: f.name,
        description: f.description,
        remote: f.remote ?? false,
        local: f.isLocal ?? false,
        config: f.config,
      })),
    },
    text: table(['FLAVOR', 'DESCRIPTION', 'FIELDS'], rows),
  };
}

export async function componentFlavorDescribe(
  _ctx: CommandContext,
  type: StackComponentType,
  o: { flavor: string },
): Promise<CommandResult> {
  const f = componentFlavor(type, o.flavor);
  const rows = Object.entries(f.config).map(([k, c]) => [
    k,
    c.type,
    c.required ? 'yes' : 'no',
    c.default === undefined ? '' : String(c.default),
    [c.sensitive ? 'sensitive' : '', c.allowReference === false ? 'no references' : ''].filter(Boolean).join(', '),
    c.description,
  ]);
  const where = f.remote
    ? 'remote: steps run on other machines'
    : f.isLocal
      ? 'exists only on this machine'
      : 'reachable from other machines';
  return {
    data: {
      name: f.name,
      type,
      description: f.description,
      remote: f.remote ?? false,
      local: f.isLocal ?? false,
      config: f.config,
    },
    text: `${COMPONENT_LABEL[type]} flavor '${f.name}': ${f.description} (${where})\n${rows.length ? table(['FIELD', 'TYPE', 'REQUIRED', 'DEFAULT', 'NOTES', 'DESCRIPTION'], rows) : 'No config fields.'}`,
  };
}

// --- Internal helpers ---

/**
 * A command that works: `stack update` on the active stack, unless that is the default stack
 * (which cannot be changed); then a new stack that keeps the active stack's secrets manager.
 */
function useHint(ctx: CommandContext, type: StackComponentType, name: string): string {
  const ks = ctx.keystack();
  const active = ks.activeStack();
  if (active.name !== DEFAULT_STACK)
    return `Use it with: keystack stack update ${active.name} ${stackFlag(type)} ${name}`;
  const sm = ks.stackComponent(active, 'secrets_manager');
  return `Use it with: keystack stack register STACK ${stackFlag(type)} ${name}${sm ? ` -x ${sm.name}` : ''} --set   (a new stack; the default stack cannot be changed)`;
}

function stackFlag(type: StackComponentType): string {
  return { orchestrator: '-o', artifact_store: '-a', container_registry: '-c', step_operator: '--step-operator' }[type];
}

/** `NAME --KEY=VALUE …`; with `emptyRemoves`, `--KEY=` removes the field. */
function nameAndConfig(
  type: StackComponentType,
  args: readonly string[],
  emptyRemoves: boolean,
): { name: string; config: Record<string, unknown> } {
  const { positionals, pairs } = parseExtraArgs(args);
  const [name, ...rest] = positionals;
  if (name === undefined) throw new UsageError(`a ${COMPONENT_LABEL[type]} name is required`);
  if (rest.length > 0)
    throw new UsageError(`unexpected argument '${rest[0]}'`, 'Config values are given as --KEY=VALUE.');
  const config: Record<string, unknown> = {};
  for (const [k, v] of pairs) config[k] = emptyRemoves && v === '' ? null : v;
  return { name, config };
}

/** The one view of a component that every command prints: sensitive config is `***`. */
function view(r: ComponentRecord) {
  return {
    name: r.name,
    id: r.uuid,
    type: r.type,
    flavor: r.flavor,
    config: redactConfig(fieldsOf(r.type, r.flavor), r.config),
    createdAt: r.createdAt,
  };
}

/** A flavor's fields; undefined for a flavor this build does not know (then every field is hidden). */
function fieldsOf(type: ComponentType, flavor: string): ComponentFlavor['config'] | undefined {
  if (type === 'secrets_manager') return undefined;
  try {
    return componentFlavor(type, flavor).config;
  } catch {
    return undefined;
  }
}

/** Plain values of sensitive fields are masked in every message of this command (an error may quote them). */
function rememberSensitive(
  ctx: CommandContext,
  type: StackComponentType,
  flavor: string,
  config: Record<string, unknown>,
): void {
  const fields = fieldsOf(type, flavor);
  ctx.out.sensitive(
    Object.entries(config)
      .filter(([k, v]) => typeof v === 'string' && !isReference(v) && (fields?.[k]?.sensitive ?? true))
      .map(([, v]) => v as string),
  );
}
