/** The one view of a stack that every `stack` command prints. */
import {
  COMPONENT_KEY,
  SINGLE_COMPONENT_TYPES,
  type SingleComponentType,
  type StackRecord,
} from '../../../stack/config-store.js';
import type { CommandContext } from '../../context.js';

export { COMPONENT_KEY };

export function view(ctx: CommandContext, s: StackRecord) {
  const ks = ctx.keystack();
  const components: Partial<Record<(typeof COMPONENT_KEY)[SingleComponentType], string>> = {};
  for (const t of SINGLE_COMPONENT_TYPES) {
    const c = ks.stackComponent(s, t);
    if (c) components[COMPONENT_KEY[t]] = c.name;
  }
  return { name: s.name, id: s.uuid, components, stepOperators: ks.stackStepOperators(s).map((c) => c.name) };
}
