/** `keystack stack …`: stacks group components; one stack is active. */
import { ConfigError, UsageError } from '../../errors.js';
import {
  COMPONENT_KEY,
  COMPONENT_LABEL,
  DEFAULT_STACK,
  SINGLE_COMPONENT_TYPES,
  type SingleComponentType,
  type StackRecord,
} from '../../stack/config-store.js';
import { confirmOrAbort } from '../confirm.js';
import { table } from '../output.js';
import type { CommandContext, CommandResult } from '../context.js';

export type ComponentFlags = Partial<Record<SingleComponentType, string>>;

export async function stackRegister(
  ctx: CommandContext,
  o: {
    name: string;
    components: ComponentFlags;
    stepOperators?: readonly string[] | undefined;
    set?: boolean | undefined;
  },
): Promise<CommandResult> {
  const ks = ctx.keystack();
  const components: ComponentFlags = { orchestrator: 'default', artifact_store: 'default', ...o.components };
  const stack = ks.registerStack(o.name, components, o.stepOperators ?? []);
  if (o.set) ks.store.setActiveStack(stack.name);
  return {
    data: view(ctx, stack),
    text: `Registered stack '${o.name}'${o.set ? ' and made it active' : ''}.${o.set ? '' : ` Activate it with: keystack stack set ${o.name}`}`,
  };
}

export async function stackSet(ctx: CommandContext, o: { name: string }): Promise<CommandResult> {
  const stack = ctx.keystack().store.setActiveStack(o.name);
  return { data: view(ctx, stack), text: `Active stack: '${stack.name}'.` };
}

export async function stackList(ctx: CommandContext): Promise<CommandResult> {
  const ks = ctx.keystack();
  const active = ks.store.activeStackName();
  const stacks = ks.store.listStacks().map((s) => view(ctx, s));
  const rows = stacks.map((s) => [
    s.name === active ? '*' : '',
    s.name,
    ...SINGLE_COMPONENT_TYPES.map((t) => s.components[COMPONENT_KEY[t]] ?? ''),
    s.stepOperators.join(', '),
  ]);
  return {
    data: { stacks: stacks.map((s) => ({ ...s, active: s.name === active })) },
    text: table(
      ['ACTIVE', 'STACK', ...SINGLE_COMPONENT_TYPES.map((t) => COMPONENT_LABEL[t].toUpperCase()), 'STEP-OPERATORS'],
      rows,
    ),
  };
}

export async function stackDescribe(ctx: CommandContext, o: { name?: string | undefined }): Promise<CommandResult> {
  const ks = ctx.keystack();
  const stack = o.name === undefined ? ks.activeStack() : ks.store.getStack(o.name);
  const v = view(ctx, stack);
  const active = ks.store.activeStackName() === stack.name;
  const rows = SINGLE_COMPONENT_TYPES.filter((t) => v.components[COMPONENT_KEY[t]]).map((t) => {
    const c = ks.stackComponent(stack, t);
    return [COMPONENT_LABEL[t], c?.name ?? '?', c?.flavor ?? '?'];
  });
  for (const c of ks.stackStepOperators(stack)) rows.push([COMPONENT_LABEL.step_operator, c.name, c.flavor]);
  return {
    data: { ...v, active },
    text: `Stack '${stack.name}'${active ? ' (active)' : ''}:\n${table(['COMPONENT', 'NAME', 'FLAVOR'], rows)}`,
  };
}

export async function stackUpdate(
  ctx: CommandContext,
  o: {
    name?: string | undefined;
    components: ComponentFlags;
    stepOperators?: readonly string[] | undefined;
    removeStepOperators?: readonly string[] | undefined;
  },
): Promise<CommandResult> {
  const add = o.stepOperators ?? [];
  const remove = o.removeStepOperators ?? [];
  if (Object.keys(o.components).length === 0 && add.length === 0 && remove.length === 0) {
    throw new UsageError(
      'nothing to change',
      'Pass -x SECRETS_MANAGER, -o ORCHESTRATOR, -a ARTIFACT_STORE, --step-operator NAME or --remove-step-operator NAME.',
    );
  }
  const ks = ctx.keystack();
  const name = o.name ?? ks.store.activeStackName();
  refuseDefault(name);
  const stack = ks.updateStack(name, o.components, { add, remove });
  return { data: view(ctx, stack), text: `Updated stack '${stack.name}'.` };
}

export async function stackRemoveComponent(
  ctx: CommandContext,
  o: { name?: string | undefined; types: SingleComponentType[] },
): Promise<CommandResult> {
  if (o.types.length === 0)
    throw new UsageError(
      'no component type given',
      'Pass -x to remove the secrets manager (or -c for the container registry).',
    );
  const ks = ctx.keystack();
  const name = o.name ?? ks.store.activeStackName();
  refuseDefault(name);
  const stack = ks.updateStack(name, Object.fromEntries(o.types.map((t) => [t, null])));
  return {
    data: view(ctx, stack),
    text: `Removed ${o.types.map((t) => COMPONENT_LABEL[t]).join(', ')} from stack '${stack.name}'.`,
  };
}

export async function stackDelete(
  ctx: CommandContext,
  o: { name: string; yes?: boolean | undefined },
): Promise<CommandResult> {
  const store = ctx.keystack().store;
  const stack = store.getStack(o.name);
  // What would refuse the deletion is said before the question (the store checks it again).
  if (store.activeStackName() !== stack.name)
    await confirmOrAbort(ctx, `Delete stack '${stack.name}'? Its components stay registered.`, o.yes);
  store.deleteStack(o.name);
  return {
    data: { name: o.name, deleted: true },
    text: `Deleted stack '${o.name}'. Its components are still registered.`,
  };
}

/** As in ZenML, the default stack stays as created, so there is always one known-good stack. */
function refuseDefault(name: string): void {
  if (name === DEFAULT_STACK) {
    throw new ConfigError(`the '${DEFAULT_STACK}' stack cannot be changed`, {
      hint: `Register your own stack and activate it: keystack stack register NAME -x SECRETS_MANAGER [-o ORCH] [-a STORE] [-c REGISTRY] --set`,
    });
  }
}

function view(ctx: CommandContext, s: StackRecord) {
  const ks = ctx.keystack();
  const components: Partial<Record<(typeof COMPONENT_KEY)[SingleComponentType], string>> = {};
  for (const t of SINGLE_COMPONENT_TYPES) {
    const c = ks.stackComponent(s, t);
    if (c) components[COMPONENT_KEY[t]] = c.name;
  }
  return { name: s.name, id: s.uuid, components, stepOperators: ks.stackStepOperators(s).map((c) => c.name) };
}
