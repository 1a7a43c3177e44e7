import { UsageError } from '../../../errors.js';
import type { StackComponentType } from '../../../stack/components.js';
import { COMPONENT_LABEL, type ComponentRecord } from '../../../stack/config-store.js';
import { redactConfig, table } from '../../output.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';
import { exampleName } from './groups.js';

export default (type: StackComponentType) => {
  const label = COMPONENT_LABEL[type];
  return defineCommand({
    path: `${label} describe`,
    description: `show a ${label}'s config; references are shown as text (default: the active stack's)`,
    arguments: [{ spec: '[name]', complete: `component:${type}` }],
    examples: [`keystack ${label} describe`, `keystack ${label} describe ${exampleName(type)}`],
    shape: (z) => views(z).componentShapes.describe,
    run: async (ctx, { args }: CommandInput) => {
      const { view } = await import('./records.js');
      const { componentFlavor } = await import('../../../stack/components.js');
      const { requiresAuthentication } = await import('../../../stack/runtime.js');
      const ks = ctx.keystack();
      const name = args['name'];
      let rec: ComponentRecord | undefined;
      if (name === undefined) {
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
      } else rec = ks.store.getComponent(type, name);
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
          ...view(type, rec),
          config,
          stacks,
          ...(type === 'container_registry' ? { requiresAuthentication: requiresAuthentication(rec) } : {}),
        },
        text: `${label[0]?.toUpperCase()}${label.slice(1)} '${rec.name}':\n${table(['PROPERTY', 'VALUE'], rows)}`,
      };
    },
  });
};
