/**
 * What the component commands share when they run: reading `NAME --KEY=VALUE …`, masking the
 * plain values of sensitive fields, and the one view of a component they print. Loaded by the
 * handlers (`await import`), not at start-up.
 */
import { UsageError } from '../../../errors.js';
import { isReference } from '../../../secrets/reference.js';
import { COMPONENT_LABEL, type ComponentRecord, type ComponentType } from '../../../stack/config-store.js';
import { componentFlavor, type ComponentFlavor, type StackComponentType } from '../../../stack/components.js';
import { parseExtraArgs } from '../../input.js';
import { redactConfig } from '../../output.js';
import type { CommandContext } from '../../context.js';

/** `NAME --KEY=VALUE …`; with `emptyRemoves`, `--KEY=` removes the field. */
export function nameAndConfig(
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

/**
 * The one view of a component that every command prints: sensitive config is `***`. `type` is the
 * one the record was looked up by (a record's own type also admits secrets managers).
 */
export function view(type: StackComponentType, r: ComponentRecord) {
  return {
    name: r.name,
    id: r.uuid,
    type,
    flavor: r.flavor,
    config: redactConfig(fieldsOf(type, r.flavor), r.config),
    createdAt: r.createdAt,
  };
}

/** Plain values of sensitive fields are masked in every message of this command (an error may quote them). */
export function rememberSensitive(
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

/** A flavor's fields; undefined for a flavor this build does not know (then every field is hidden). */
function fieldsOf(type: ComponentType, flavor: string): ComponentFlavor['config'] | undefined {
  if (type === 'secrets_manager') return undefined;
  try {
    return componentFlavor(type, flavor).config;
  } catch {
    return undefined;
  }
}

/** A flavor's config fields as `--json` shows them (the shape's arrays are mutable, the flavor's are not). */
export function fieldsView(config: ComponentFlavor['config']) {
  return Object.fromEntries(
    // An absent `choices` stays absent in the JSON (undefined is not printed).
    Object.entries(config).map(([k, c]) => [k, { ...c, choices: c.choices && [...c.choices] }]),
  );
}
