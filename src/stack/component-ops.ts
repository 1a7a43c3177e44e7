/**
 * Registering, changing and deleting orchestrators, artifact stores and container registries.
 * (Secrets managers have their own path in client.ts: their configs forbid references and their
 * scope settings need extra care.)
 */
import { UsageError } from '../errors.js';
import type { Keystack } from './client.js';
import { validateComponentName } from './client.js';
import type { ComponentRecord } from './config-store.js';
import {
  componentFlavor,
  validateComponentConfig,
  type ComponentFlavor,
  type StackComponentType,
} from './components.js';

export interface ComponentChange {
  record: ComponentRecord;
  /** Plain values in sensitive fields (the CLI prints them as warnings). */
  warnings: string[];
}

export function registerComponent(
  ks: Keystack,
  input: { type: StackComponentType; name: string; flavor: string; config?: Record<string, unknown> },
  extraFlavors: readonly ComponentFlavor[] = [],
): ComponentChange {
  validateComponentName(input.name);
  const flavor = componentFlavor(input.type, input.flavor, extraFlavors);
  const { config, warnings } = validateComponentConfig(flavor, input.config ?? {});
  const record = ks.store.addComponent({ type: input.type, flavor: flavor.name, name: input.name, config });
  return { record, warnings };
}

/** Merges `changes` into the config; a null value removes the field. */
export function updateComponent(
  ks: Keystack,
  type: StackComponentType,
  name: string,
  changes: Record<string, unknown>,
  extraFlavors: readonly ComponentFlavor[] = [],
): ComponentChange {
  if (Object.keys(changes).length === 0)
    throw new UsageError('nothing to change', 'Pass --KEY=VALUE (or --KEY= to remove a field).');
  return ks.store.tx(() => {
    const record = ks.store.getComponent(type, name);
    const flavor = componentFlavor(type, record.flavor, extraFlavors);
    const merged: Record<string, unknown> = { ...record.config, ...changes };
    for (const [k, v] of Object.entries(changes)) if (v === null) delete merged[k];
    const { config, warnings } = validateComponentConfig(flavor, merged);
    ks.store.updateComponentConfig(record.uuid, config);
    // Only warn about fields this change touched.
    const touched = warnings.filter((w) => Object.keys(changes).some((k) => w.includes(`'${k}'`)));
    return { record: { ...record, config }, warnings: touched };
  });
}

export function deleteComponent(ks: Keystack, type: StackComponentType, name: string): ComponentRecord {
  return ks.store.deleteComponent(type, name);
}
