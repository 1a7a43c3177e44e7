/**
 * What differs between the four component groups (`orchestrator`, `artifact-store`,
 * `container-registry`, `step-operator`; named by COMPONENT_LABEL): their help line and example
 * values. Their commands are the same definitions, built for each type.
 */
import type { StackComponentType } from '../../../stack/components.js';
import { COMPONENT_LABEL } from '../../../stack/config-store.js';

interface ComponentGroup {
  readonly description: string;
  /** A flavor and a config field the examples use. */
  readonly flavor: string;
  readonly field: string;
}

export const COMPONENT_GROUPS: Readonly<Record<StackComponentType, ComponentGroup>> = {
  orchestrator: {
    description: 'orchestrators: where pipeline steps run',
    flavor: 'local_process',
    field: '--timeout_seconds=600',
  },
  artifact_store: {
    description: 'artifact stores: where step outputs are kept',
    flavor: 'local',
    field: '--encryption_key={{art.key}}',
  },
  container_registry: {
    description: 'container registries and their credentials',
    flavor: 'default',
    field: '--uri=registry.example.com --authentication_secret=registry_creds',
  },
  step_operator: {
    description: 'step operators: where the steps that name one run (a stack may have several)',
    flavor: 'bullmq',
    field: "--redis_url='{{redis.url}}' --queue=gpu",
  },
};

/** The component name the examples use, e.g. `my_artifact_store`. */
export const exampleName = (type: StackComponentType): string => `my_${COMPONENT_LABEL[type].replace('-', '_')}`;
