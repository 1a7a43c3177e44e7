/**
 * Where a worker lets its own credentials go. A job says which secrets manager and artifact store
 * its step uses; the worker uses them only when their location (the flavor's location fields: a
 * vault URL and mount, an AWS region and endpoint, an S3 bucket and endpoint…) and the fields
 * that decide whether the connection is trusted (TLS verification, the CA) match its own
 * configuration: an allow-list given on its command line, else the components registered in its
 * own config store, matched by UUID. A job's snapshot is the client's description of the stack,
 * signed, but the worker's credentials are the worker's: only the worker's configuration decides
 * where they may be sent. The same check refuses local-only components, whatever the job says.
 */
import { ConfigError, UsageError } from '../../errors.js';
import { isReference } from '../../secrets/reference.js';
import { BUILTIN_FLAVOR_LOADERS } from '../../core/registry.js';
import type { ConfigField, FlavorDefinition } from '../../core/types.js';
import { COMPONENT_LABEL, type ComponentRecord } from '../../stack/config-store.js';
import { componentFlavor, parseS3Path, type ComponentFlavor, type StackComponentType } from '../../stack/components.js';
import type { SnapshotComponent, StackSnapshot } from './snapshot.js';

export type PinnedType = 'secrets_manager' | 'artifact_store';

export interface AllowedLocation {
  type: PinnedType;
  flavor: string;
  /** Field → value, as given. */
  fields: Record<string, string>;
  /** The flag it came from, for messages. */
  origin: string;
}

export interface PinningPolicy {
  allowed: readonly AllowedLocation[];
  /** The worker's own component with this UUID, if it has one. */
  registered: (uuid: string) => ComponentRecord | undefined;
  /** The worker's environment: a field the config leaves out may come from a variable (VAULT_ADDR). */
  env: Readonly<Record<string, string | undefined>>;
}

const FLAG: Record<PinnedType, string> = {
  secrets_manager: '--allow-manager',
  artifact_store: '--allow-artifact-store',
};

/** Parses `FLAVOR:FIELD=VALUE[,FIELD=VALUE…]` as given to --allow-manager / --allow-artifact-store. */
export function parseAllowSpec(type: PinnedType, spec: string): AllowedLocation {
  const flag = FLAG[type];
  const m = /^([a-z0-9_-]+):(.+)$/.exec(spec.trim());
  const example =
    type === 'secrets_manager'
      ? `${flag} vault:url=https://vault.example.com:8200,mount_point=secret`
      : `${flag} s3:path=s3://BUCKET/PREFIX,region=eu-west-1`;
  if (!m?.[1] || !m[2])
    throw new UsageError(`${flag} takes FLAVOR:FIELD=VALUE[,FIELD=VALUE...]`, `For example: ${example}`);
  const fields: Record<string, string> = {};
  for (const part of m[2].split(',')) {
    const eq = part.indexOf('=');
    const k = eq > 0 ? part.slice(0, eq).trim() : '';
    if (!/^[a-z0-9_]+$/.test(k))
      throw new UsageError(`${flag} ${m[1]}: '${part.trim()}' is not FIELD=VALUE`, `For example: ${example}`);
    fields[k] = part.slice(eq + 1).trim();
  }
  return { type, flavor: m[1], fields, origin: `${flag} ${m[1]}` };
}

interface PinnedFlavor {
  label: string;
  name: string;
  isLocal: boolean;
  fields: Readonly<Record<string, ConfigField>>;
  pinned: readonly string[];
}

async function managerFlavor(name: string): Promise<PinnedFlavor | undefined> {
  const load = Object.hasOwn(BUILTIN_FLAVOR_LOADERS, name) ? BUILTIN_FLAVOR_LOADERS[name] : undefined;
  if (!load) return undefined;
  const f: FlavorDefinition<unknown> = await load();
  return {
    label: 'secrets-manager',
    name: f.name,
    isLocal: f.isLocal,
    fields: f.config,
    pinned: [...(f.locationFields ?? Object.keys(f.config)), ...(f.trustFields ?? [])],
  };
}

function stackFlavor(
  type: StackComponentType,
  name: string,
  extra: readonly ComponentFlavor[],
): ComponentFlavor | undefined {
  try {
    return componentFlavor(type, name, extra);
  } catch {
    return undefined;
  }
}

/**
 * Checks a job's stack before the worker builds anything from it or sends any request. Throws a
 * ConfigError naming the component and the field.
 */
export async function checkJobStack(
  snapshot: StackSnapshot,
  policy: PinningPolicy,
  extraFlavors: readonly ComponentFlavor[] = [],
): Promise<void> {
  const orchestrators = snapshot.components.filter((c) => c.type === 'orchestrator');
  for (const c of snapshot.components) {
    const label = `${COMPONENT_LABEL[c.type]} '${c.name}'`;
    if (c.type === 'secrets_manager') {
      const f = await managerFlavor(c.flavor);
      if (!f)
        throw new ConfigError(`refused: the job's ${label} has flavor '${c.flavor}', which workers do not load`, {
          hint: 'Workers use the built-in secrets-manager flavors only (custom flavors are not loaded on workers).',
        });
      checkComponent(c, f, policy);
      continue;
    }
    const flavor = stackFlavor(c.type, c.flavor, extraFlavors);
    if (!flavor)
      throw new ConfigError(`refused: the job's ${label} has flavor '${c.flavor}', which this worker does not know`, {
        hint: 'Run the same keystack version on the client and the workers.',
      });
    if ((c.type === 'orchestrator' || c.type === 'step_operator') && flavor.remote !== true) {
      throw new ConfigError(`refused: the job's ${label} (flavor ${c.flavor}) does not run steps on workers`, {
        hint: 'Workers run steps of bullmq orchestrators and step operators only.',
      });
    }
    if (c.type === 'artifact_store') {
      checkComponent(
        c,
        {
          label: COMPONENT_LABEL[c.type],
          name: flavor.name,
          isLocal: flavor.isLocal === true,
          fields: flavor.config,
          pinned: flavor.locationFields ?? Object.keys(flavor.config),
        },
        policy,
      );
    } else if (flavor.isLocal === true) {
      throw localOnly(label, c.flavor);
    }
  }
  if (orchestrators.length !== 1)
    throw new ConfigError("refused: the job's stack does not have exactly one orchestrator", {
      hint: 'Run the same keystack version on the client and the workers.',
    });
}

function localOnly(label: string, flavor: string): ConfigError {
  return new ConfigError(
    `refused: the job's ${label} (flavor ${flavor}) exists only on the client's machine; a worker never uses its own local one in its place`,
    {
      hint: 'Use a secrets manager other than local (vault, aws, gcp, azure) and an s3 artifact store on remote stacks.',
    },
  );
}

function checkComponent(c: SnapshotComponent, f: PinnedFlavor, policy: PinningPolicy): void {
  const label = `${f.label} '${c.name}'`;
  if (f.isLocal) throw localOnly(label, c.flavor);
  for (const field of f.pinned) {
    if (isReference(c.config[field])) {
      throw new ConfigError(
        `refused: field '${field}' of the job's ${label} is a secret reference; a worker checks where its credentials go against plain values only`,
        {
          hint: `Give ${field} as a plain value in the client's configuration.`,
        },
      );
    }
  }
  const type = c.type as PinnedType;
  const candidates = policy.allowed.filter((a) => a.type === type);
  if (candidates.length > 0) {
    const same = candidates.filter((a) => a.flavor === c.flavor);
    for (const a of same) if (mismatch(f, c.config, a.fields, policy.env) === undefined) return;
    const field = same.length > 0 ? mismatch(f, c.config, (same[0] as AllowedLocation).fields, policy.env) : 'flavor';
    throw new ConfigError(
      `refused: the ${field === 'flavor' ? 'flavor' : `field '${field}'`} of the job's ${label} (flavor ${c.flavor}) is not one this worker's ${FLAG[type]} list allows`,
      {
        hint: `The worker's credentials go only where its own configuration says. If the job is right, start the worker with ${FLAG[type]} ${c.flavor}:FIELD=VALUE,... for it.`,
      },
    );
  }
  const own = policy.registered(c.uuid);
  if (!own || own.type !== c.type || own.flavor !== c.flavor) {
    throw new ConfigError(
      `refused: the job's ${label} (uuid ${c.uuid}) is not registered in this worker's config store, and the worker has no ${FLAG[type]} list`,
      {
        hint: `Register the same component on the worker (with --uuid ${c.uuid}), or start the worker with ${FLAG[type]} ${c.flavor}:FIELD=VALUE,...`,
      },
    );
  }
  const field = mismatch(f, c.config, own.config, policy.env);
  if (field !== undefined) {
    throw new ConfigError(
      `refused: the field '${field}' of the job's ${label} differs from the worker's own registration of it`,
      {
        hint: `The worker's credentials go only where its own configuration says: update one side so that they match (\`keystack ${f.label} describe ${own.name}\` on the worker).`,
      },
    );
  }
}

/** The first pinned field whose effective value differs between the job and the allowed config. */
function mismatch(
  f: PinnedFlavor,
  job: Readonly<Record<string, unknown>>,
  allowed: Readonly<Record<string, unknown>>,
  env: PinningPolicy['env'],
): string | undefined {
  for (const field of f.pinned) {
    const def = Object.hasOwn(f.fields, field) ? f.fields[field] : undefined;
    const eff = (config: Readonly<Record<string, unknown>>): string => {
      const v = Object.hasOwn(config, field) ? config[field] : undefined;
      const raw =
        v !== undefined && v !== null && v !== '' ? v : ((def?.env ? env[def.env] : undefined) ?? def?.default);
      return normalise(field, raw);
    };
    if (eff(job) !== eff(allowed)) return field;
  }
  return undefined;
}

function normalise(field: string, v: unknown): string {
  if (v === undefined || v === null || v === '') return '';
  // An object or array matches nothing: it is no location a worker could have allowed.
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return '\u0000not-a-value';
  const s = String(v).trim();
  if (field === 'path' && s.startsWith('s3://')) {
    try {
      const l = parseS3Path(s, 'path');
      return `s3://${l.bucket}/${l.prefix}`;
    } catch {
      return s;
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    try {
      return new URL(s).href.replace(/\/+$/, '');
    } catch {
      return s;
    }
  }
  return s;
}
