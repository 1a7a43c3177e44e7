/** How `stack register`, `update` and `remove-component` say which components change. */
import { ConfigError } from '../../../errors.js';
import { DEFAULT_STACK, type SingleComponentType } from '../../../stack/config-store.js';
import type { OptionSpec } from '../../define.js';

/** The component options of `stack register` and `stack update`. */
export const COMPONENT_OPTIONS: readonly OptionSpec[] = [
  { flags: '-x, --secrets-manager <name>', description: 'secrets manager', complete: 'manager' },
  { flags: '-o, --orchestrator <name>', description: 'orchestrator', complete: 'component:orchestrator' },
  { flags: '-a, --artifact-store <name>', description: 'artifact store', complete: 'component:artifact_store' },
  {
    flags: '-c, --container-registry <name>',
    description: 'container registry',
    complete: 'component:container_registry',
  },
  {
    flags: '--step-operator <name>',
    description: 'step operator (repeatable: a stack may have several)',
    repeatable: true,
    complete: 'component:step_operator',
  },
];

export interface ComponentOpts {
  secretsManager?: string;
  orchestrator?: string;
  artifactStore?: string;
  containerRegistry?: string;
  stepOperator: string[];
}

export type ComponentFlags = Partial<Record<SingleComponentType, string>>;

export function componentFlags(o: ComponentOpts): ComponentFlags {
  const f: ComponentFlags = {};
  if (o.secretsManager) f.secrets_manager = o.secretsManager;
  if (o.orchestrator) f.orchestrator = o.orchestrator;
  if (o.artifactStore) f.artifact_store = o.artifactStore;
  if (o.containerRegistry) f.container_registry = o.containerRegistry;
  return f;
}

/** As in ZenML, the default stack stays as created, so there is always one known-good stack. */
export function refuseDefault(name: string): void {
  if (name === DEFAULT_STACK) {
    throw new ConfigError(`the '${DEFAULT_STACK}' stack cannot be changed`, {
      hint: `Register your own stack and activate it: keystack stack register NAME -x SECRETS_MANAGER [-o ORCH] [-a STORE] [-c REGISTRY] --set`,
    });
  }
}
