/**
 * Flavors of the stack components other than secrets managers: orchestrators, artifact stores,
 * container registries and step operators. A flavor here is only a declaration (config fields, locality); what a
 * component does at run time lives in the pipeline layer.
 *
 * Any string field may hold a secret reference `{{name.key}}` unless it says otherwise; the text
 * is stored as is and resolved during a run (see references.ts).
 */
import { ConfigError, NotFoundError } from '../errors.js';
import { isReference, REFERENCE_SYNTAX, referenceLookalike } from '../secrets/reference.js';
import { validateFlavorFields } from '../core/config.js';
import type { ConfigField } from '../core/types.js';
import { COMPONENT_LABEL, type ComponentType } from './config-store.js';

export interface ComponentField extends ConfigField {
  /** False for fields that are validated or used before a run (paths, URIs): no references. */
  allowReference?: boolean;
}

export type StackComponentType = Exclude<ComponentType, 'secrets_manager'>;

export interface ComponentFlavor {
  readonly type: StackComponentType;
  readonly name: string;
  readonly description: string;
  readonly config: Readonly<Record<string, ComponentField>>;
  /**
   * Orchestrators and step operators: steps run somewhere else than this machine, so the stack
   * may not use a component that exists only here.
   */
  readonly remote?: boolean;
  /** The component exists only on this machine (a remote orchestrator cannot use it). */
  readonly isLocal?: boolean;
  /** Artifact stores: the fields that decide where outputs go (a worker pins them). @default every field */
  readonly locationFields?: readonly string[];
  /** Checks of the converted config beyond its fields' types, at register and update; throws a ConfigError. */
  readonly check?: (config: Readonly<Record<string, unknown>>, label: string) => void;
}

/**
 * One type's flavors, keyed by name: the key is the flavor's name, so a table of what each flavor
 * does at run time (keyed by the same names) is checked against this one by the compiler.
 */
function declareFlavors<N extends string>(
  type: StackComponentType,
  flavors: Record<N, Omit<ComponentFlavor, 'type' | 'name'>>,
): Readonly<Record<N, ComponentFlavor>> {
  const entries = Object.entries<Omit<ComponentFlavor, 'type' | 'name'>>(flavors);
  return Object.fromEntries(entries.map(([name, f]) => [name, { type, name, ...f }])) as Record<N, ComponentFlavor>;
}

/** The built-in orchestrators by name; what each one does at run time is in pipeline/orchestrators.ts, keyed the same. */
export const ORCHESTRATOR_FLAVORS = declareFlavors('orchestrator', {
  local: {
    description: 'Runs every step in the current process, one after the other.',
    config: {},
    remote: false,
    isLocal: true,
  },
  local_process: {
    description:
      'Runs every step in a fresh Node process without credentials, which reads its declared secrets through this process.',
    config: {
      timeout_seconds: {
        type: 'integer',
        description: 'Kill a step process that runs longer than this (0 = no limit).',
        default: 0,
      },
      node_options: {
        type: 'string',
        description: 'Extra flags for the step processes, e.g. --max-old-space-size=4096.',
        allowReference: false,
      },
    },
    remote: false,
    isLocal: true,
  },
  bullmq: {
    description: 'Runs every step as a BullMQ job on Redis, taken by `keystack worker` processes on other machines.',
    config: {
      redis_url: {
        type: 'string',
        description:
          'Redis URL, e.g. redis://:PASSWORD@host:6379/0; it may carry a password, so give it as a reference, e.g. {{redis.url}}.',
        sensitive: true,
        required: true,
      },
      queue: {
        type: 'string',
        description: 'The queue of the steps that name no step operator.',
        default: 'keystack',
        allowReference: false,
      },
      attempts: { type: 'integer', description: 'How many times a step is tried before the run fails.', default: 3 },
      backoff_ms: {
        type: 'integer',
        description: 'Wait before a failed step is tried again (doubled each attempt).',
        default: 1000,
      },
      step_timeout_seconds: {
        type: 'integer',
        description: 'Fail a step that runs longer than this (0 = no limit).',
        default: 0,
      },
      run_deadline_seconds: {
        type: 'integer',
        description:
          'How long after submission the steps of a run may start; part of what the client signs, so a job replayed later is refused.',
        default: 86400,
      },
      run_ttl_seconds: {
        type: 'integer',
        description:
          "How long a run's state stays in Redis after its last change (at least 60): step results and the provenance records a detached client has not collected yet (`pipeline runs describe`); after it they are reported as lost.",
        default: 604800,
      },
      inline_output_max_bytes: {
        type: 'integer',
        description:
          "Outputs up to this size (their JSON, at most 1048576 bytes) also travel to the next step and to the client in Redis, sealed with the artifact store's encryption_key, which saves a read from the store; 0 = never. Without an encryption_key nothing travels this way.",
        default: 65536,
      },
    },
    remote: true,
    isLocal: false,
  },
});

/** The built-in step operators by name; the bullmq workers run their steps (pipeline/remote/). */
export const STEP_OPERATOR_FLAVORS = declareFlavors('step_operator', {
  bullmq: {
    description:
      'Runs the steps that name it on the workers of its own BullMQ queue (e.g. GPU machines with their own credentials).',
    config: {
      redis_url: {
        type: 'string',
        description: 'Redis URL, e.g. redis://:PASSWORD@host:6379/0; give it as a reference, e.g. {{redis.url}}.',
        sensitive: true,
        required: true,
      },
      queue: {
        type: 'string',
        description: 'The queue its workers serve, e.g. gpu.',
        required: true,
        allowReference: false,
      },
    },
    remote: true,
    isLocal: false,
  },
});

/** The built-in artifact stores by name; how each one opens is in pipeline/artifacts.ts, keyed the same. */
export const ARTIFACT_STORE_FLAVORS = declareFlavors('artifact_store', {
  local: {
    description: 'Keeps step outputs in a directory on this machine, optionally encrypted.',
    config: {
      path: {
        type: 'string',
        description: 'Directory for artifacts (default: <config dir>/artifacts).',
        allowReference: false,
      },
      encryption_key: {
        type: 'string',
        description:
          'Passphrase that encrypts every artifact at rest (AES-256-GCM). Give it as a reference, e.g. {{artifacts.key}}.',
        sensitive: true,
      },
    },
    isLocal: true,
  },
  s3: {
    description:
      'Keeps step outputs (and the step cache) in an S3 bucket, optionally encrypted; needs @aws-sdk/client-s3.',
    config: {
      path: {
        type: 'string',
        description: 'Where artifacts live: s3://BUCKET/PREFIX.',
        required: true,
        allowReference: false,
      },
      region: { type: 'string', description: 'AWS region of the bucket (default: AWS_REGION, else us-east-1).' },
      endpoint_url: {
        type: 'string',
        description: 'Another S3 endpoint (emulators, S3-compatible servers); uses path-style addressing.',
        allowReference: false,
      },
      authentication_secret: {
        type: 'string',
        description:
          'Name of an aws secret (aws_access_key_id, aws_secret_access_key, aws_session_token) in the stack’s secrets manager; default: the AWS credentials of the machine the step runs on.',
        allowReference: false,
      },
      encryption_key: {
        type: 'string',
        description:
          'Passphrase that encrypts every artifact before it is uploaded (AES-256-GCM). Give it as a reference, e.g. {{artifacts.key}}.',
        sensitive: true,
      },
    },
    isLocal: false,
    locationFields: ['path', 'endpoint_url', 'region'],
    check: (config, label) => void parseS3Path(config['path'], label),
  },
});

/** The built-in container registries by name. */
export const CONTAINER_REGISTRY_FLAVORS = declareFlavors('container_registry', {
  default: {
    description: 'A container registry; its credentials come from a basic_auth secret.',
    config: {
      uri: {
        type: 'string',
        description: 'Registry URI, e.g. registry.example.com/team.',
        required: true,
        allowReference: false,
      },
      authentication_secret: {
        type: 'string',
        description: "Name of a basic_auth secret (username, password) in the stack's secrets manager.",
        allowReference: false,
      },
    },
  },
});

export type OrchestratorFlavorName = keyof typeof ORCHESTRATOR_FLAVORS;
export type ArtifactStoreFlavorName = keyof typeof ARTIFACT_STORE_FLAVORS;

export const COMPONENT_FLAVORS: readonly ComponentFlavor[] = [
  ...Object.values(ORCHESTRATOR_FLAVORS),
  ...Object.values(STEP_OPERATOR_FLAVORS),
  ...Object.values(ARTIFACT_STORE_FLAVORS),
  ...Object.values(CONTAINER_REGISTRY_FLAVORS),
];

export interface S3Location {
  bucket: string;
  /** '' or ending in '/'. */
  prefix: string;
}

/** `s3://bucket/some/prefix` → bucket and `some/prefix/`; a ConfigError for anything else. */
export function parseS3Path(path: unknown, what: string): S3Location {
  const m = typeof path === 'string' ? /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(path) : null;
  if (!m?.[1]) {
    throw new ConfigError(
      `the path of the ${what} must be s3://BUCKET[/PREFIX] with a valid bucket name (3-63 lowercase letters, digits, '.' and '-')`,
      {
        hint: 'Pass --path=s3://BUCKET/PREFIX.',
      },
    );
  }
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  return { bucket: m[1], prefix: prefix === '' ? '' : `${prefix}/` };
}

/** The schema a container registry's authentication secret must have. */
export const REGISTRY_AUTH_SCHEMA = 'basic_auth';

export function componentFlavors(type: StackComponentType, extra: readonly ComponentFlavor[] = []): ComponentFlavor[] {
  return [...COMPONENT_FLAVORS, ...extra].filter((f) => f.type === type);
}

export function componentFlavor(
  type: StackComponentType,
  name: string,
  extra: readonly ComponentFlavor[] = [],
): ComponentFlavor {
  const found = componentFlavors(type, extra).find((f) => f.name === name);
  if (!found) {
    const known = componentFlavors(type, extra).map((f) => f.name);
    throw new NotFoundError(
      `unknown ${COMPONENT_LABEL[type]} flavor '${name}'`,
      `Available flavors: ${known.join(', ')}.`,
    );
  }
  return found;
}

export interface ValidatedComponentConfig {
  config: Record<string, unknown>;
  /** Plain values in sensitive fields: worth a warning, not an error. */
  warnings: string[];
}

/**
 * Checks and converts a component's config. References are kept as text; they are allowed only in
 * string fields that do not forbid them.
 */
export function validateComponentConfig(
  flavor: ComponentFlavor,
  raw: Record<string, unknown>,
): ValidatedComponentConfig {
  const label = `${COMPONENT_LABEL[flavor.type]} flavor ${flavor.name}`;
  const warnings: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const field = Object.hasOwn(flavor.config, key) ? flavor.config[key] : undefined;
    if (!field || value === undefined || value === null) continue;
    const lookalike = referenceLookalike(value);
    if (lookalike) {
      // The value is not quoted: in a sensitive field a near-miss may still be the secret itself.
      throw new ConfigError(
        `field '${key}' of the ${label} looks like a secret reference but is not one: ${lookalike}`,
        { hint: REFERENCE_SYNTAX },
      );
    }
    if (isReference(value)) {
      if (field.type !== 'string' || field.allowReference === false) {
        throw new ConfigError(`field '${key}' of the ${label} cannot be a secret reference`, {
          hint:
            field.type !== 'string'
              ? `It is a${field.type === 'integer' ? 'n' : ''} ${field.type}; give the value itself.`
              : 'It is used before secrets can be read; give the value itself.',
        });
      }
    } else if (field.sensitive && typeof value === 'string' && value !== '') {
      warnings.push(
        `you gave a plain-text value for the sensitive field '${key}' of the ${label}. Store it as a secret and pass a reference instead: ` +
          `\`keystack secret register NAME --${key}=...\` then --${key}={{NAME.${key}}}`,
      );
    }
  }
  // Reuse the secrets-manager field conversion; scope fields are not component fields.
  for (const k of ['scope', 'namespace', 'scope_prefix']) {
    if (k in raw) throw new ConfigError(`the ${label} has no config field '${k}'`);
  }
  const config = validateFlavorFields(`${COMPONENT_LABEL[flavor.type]} ${flavor.name}`, flavor.config, raw);
  for (const [key, field] of Object.entries(flavor.config)) {
    if (field.required && (config[key] === undefined || config[key] === '')) {
      throw new ConfigError(`the ${label} needs the config field '${key}'`, { hint: `Pass --${key}=VALUE.` });
    }
  }
  flavor.check?.(config, label);
  return { config, warnings };
}
