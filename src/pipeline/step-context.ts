/**
 * The one place a step's context is built, wherever the step runs (`local`, the `local_process`
 * step process, a bullmq worker): `context.secrets` and `context.stack` both read through the
 * step's SecretGuard, so a step reads only what it declared, and every read is recorded in the
 * sink the caller gives. How a secret is read is injectable (`read`), so that a step child can
 * read over a channel to its parent instead of holding credentials itself.
 */
import { hostname } from 'node:os';
import { KeystackError, NotFoundError, SecretNotFoundError, SchemaValidationError } from '../errors.js';
import type { SecretReference } from '../secrets/reference.js';
import { coerceValues, type SecretSchema } from '../secrets/schema.js';
import type { Secret, SecretsManager } from '../core/manager.js';
import { fingerprint, memoFingerprint, type AccessRecord, type AccessSink } from '../core/provenance.js';
import { ReferenceResolver, type ComponentRead, type ReferenceSite } from '../stack/references.js';
import type { StackRuntime } from '../stack/runtime.js';
import { stepWriter, writerFor } from '../stack/writers.js';
import { allowedKeys, SecretGuard, type GuardOptions, type SecretDeclaration, type VersionedSecret } from './access.js';
import type { StepContext, StepNode } from './step.js';

export interface StepContextOptions {
  /** The run's own (unguarded) stack: what the orchestrator and the artifact store use. */
  stack: StackRuntime;
  runId: string;
  pipeline: string;
  node: StepNode;
  attempt: number;
  /** The worker's name on a remote run; undefined on this machine. */
  worker?: string | undefined;
  /** @default os.hostname() */
  host?: string | undefined;
  /** Where the step's access records go; the runner stores them with the step's status. */
  sink: AccessSink;
  /** The provenance key, asked for on the first value read (the file is created on first use). */
  provenanceKey: () => Buffer;
  /**
   * How a declared secret is read. @default through the run's cache of `stack` (one backend read
   * per secret and run; `fresh` reads again)
   */
  read?: GuardOptions['read'] | undefined;
}

/**
 * Every member of SecretsManager, and what a step may do with it through its manager view
 * (`context.stack.secretsManager`), the same in-process and in a step child; docs/least-privilege.md
 * has this table for users. `identity`: the run's manager's answer; `declared`: only for a secret
 * (or key) the step declared, a denial recorded; `filtered`: only the declared names; `write`:
 * only with `secrets: '*'`; `run`: refused, the run owns the manager.
 */
export const STEP_MANAGER_MEMBERS = {
  name: 'identity',
  uuid: 'identity',
  flavor: 'identity',
  scope: 'identity',
  where: 'identity',
  keepsVersions: 'identity',
  mergesAtomically: 'identity',
  get: 'declared',
  getVersioned: 'declared',
  getVersion: 'declared',
  describe: 'declared',
  has: 'declared',
  history: 'declared',
  diff: 'declared',
  list: 'filtered',
  register: 'write',
  update: 'write',
  patch: 'write',
  upsert: 'write',
  delete: 'write',
  deleteAll: 'write',
  validate: 'write',
  rollback: 'write',
  rotate: 'write',
  retireVersion: 'write',
  schema: 'run',
  close: 'run',
} as const satisfies Record<string, 'identity' | 'declared' | 'filtered' | 'write' | 'run'>;

type Member = keyof typeof STEP_MANAGER_MEMBERS;

/** The members that change secrets: a step calls them with `secrets: '*'` only; a step child's parent passes them on. */
export const STEP_MANAGER_WRITES: readonly Member[] = (Object.keys(STEP_MANAGER_MEMBERS) as Member[]).filter(
  (m) => STEP_MANAGER_MEMBERS[m] === 'write',
);

/** Why a `run` member is refused, and what the step does instead. */
const REFUSED_HINTS: Partial<Record<string, string>> = {
  close: 'The run closes its secrets manager when it ends; a step leaves it open.',
  schema:
    'Import the schema the step uses and pass it to get(name, schema); `keystack schema describe NAME` shows a registered one.',
};

export function createStepContext(o: StepContextOptions): StepContext {
  const { stack, node } = o;
  const raw = stack.rawSecretsManager;
  let key: Buffer | undefined;
  const guard = new SecretGuard({
    reader: {
      runId: o.runId,
      pipeline: o.pipeline,
      step: node.id,
      component: undefined,
      attempt: o.attempt,
      worker: o.worker,
      host: o.host ?? hostname(),
    },
    declaration: node.step.declaration,
    manager: managerOf(raw),
    read: o.read ?? cachedRead(stack),
    fingerprint: (v) => fingerprint((key ??= o.provenanceKey()), v),
    sink: o.sink,
    where: raw?.where ?? `stack '${stack.name}' (it has no secrets manager)`,
  });
  const manager = stack.hasSecretsManager
    ? guardedManager(stack.secretsManager, guard, {
        declaration: node.step.declaration,
        stepName: node.step.name,
        asWriter: writerFor(stepWriter(o.runId, node.id)),
      })
    : undefined;
  const resolver = new StepResolver(stack.resolver, guard, manager);
  return {
    stack: stack.view(resolver, manager),
    secrets: guard,
    stepName: node.step.name,
    stepId: node.id,
    runId: o.runId,
    pipelineName: o.pipeline,
  };
}

/** The manager fields of a record; empty on a stack without a secrets manager. */
function managerOf(m: SecretsManager | undefined): AccessRecord['manager'] {
  return m ? { uuid: m.uuid, name: m.name, flavor: m.flavor.name } : { uuid: '', name: '', flavor: '' };
}

/** Reads through the run's cache, so that a step and the components see one value per run. */
export function cachedRead(stack: StackRuntime): GuardOptions['read'] {
  return async (name, { fresh, version }) => {
    if (!stack.hasSecretsManager) {
      throw new NotFoundError(
        `stack '${stack.name}' has no secrets manager`,
        `Add one with \`keystack stack update ${stack.name} -x NAME\`.`,
      );
    }
    // A pin is read once per run like the current version (cached as `name@V`), and its id recorded.
    const key = version === undefined ? name : `${name}@${version}`;
    if (fresh) stack.resolver.forget(key);
    const got = await stack.resolver.versioned(key);
    return got && { secret: { ...got.secret, values: { ...got.secret.values } }, version: got.version };
  };
}

/**
 * `context.stack.secretsManager`: every member as STEP_MANAGER_MEMBERS says. Reads go through the
 * guard (list shows only declared names); writes need `secrets: '*'`; what would change the run's
 * manager for the rest of the run (close) or reach past the secrets (schema) is refused.
 */
function guardedManager(
  inner: SecretsManager,
  guard: SecretGuard,
  o: { declaration: SecretDeclaration; stepName: string; asWriter: <T>(fn: () => T) => T },
): SecretsManager {
  return new Proxy(inner, {
    get(target, prop) {
      // Symbols and Object's own members (`constructor`, `toString`) are no manager member.
      if (typeof prop !== 'string' || prop in Object.prototype) return Reflect.get(target, prop) as unknown;
      const rule = Object.hasOwn(STEP_MANAGER_MEMBERS, prop) ? STEP_MANAGER_MEMBERS[prop as Member] : undefined;
      if (rule === 'declared' || rule === 'filtered') return reader(target, guard, o.declaration, prop);
      const value: unknown = Reflect.get(target, prop);
      if (rule === 'write' && typeof value === 'function') {
        const fn = value as (...args: unknown[]) => unknown;
        return async (...args: unknown[]) => {
          guard.authorizeWrite(typeof args[0] === 'string' ? args[0] : undefined, prop);
          // `secret history` names the run and step as the writer of the versions this writes.
          return o.asWriter(() => fn(...args));
        };
      }
      // A method that is not in the table (one added to SecretsManager later) is refused until it is.
      if (rule === 'run' || (rule === undefined && typeof value === 'function')) {
        return async () => {
          throw new KeystackError(
            'unsupported',
            `step '${o.stepName}' may not call the secrets manager's ${prop}(): the run owns its secrets manager`,
            { hint: REFUSED_HINTS[prop] ?? 'docs/least-privilege.md lists what a step may call.' },
          );
        };
      }
      return value;
    },
  });
}

/** The reads of a step's manager view: through the guard, never around it. */
function reader(target: SecretsManager, guard: SecretGuard, declaration: SecretDeclaration, prop: string): unknown {
  switch (prop) {
    case 'get':
      return async (name: string, schema?: SecretSchema<unknown>) => {
        const s = await guard.get(name);
        return schema ? typed(s, schema) : s;
      };
    // Older versions hold values too: read through the guard (declared, recorded), never around it.
    case 'getVersioned':
      return async (name: string) => {
        const got = await guard.getVersioned(name);
        return { ...got.secret, version: got.version };
      };
    case 'getVersion':
      return async (name: string, version: string) => {
        const got = await guard.getVersioned(`${name}@${version}`);
        // A step's view of one version: its values and id; `secret history` tells the rest.
        return { ...got.secret, version: got.version ?? version, createdAt: null, labels: [] };
      };
    case 'describe':
      return async (name: string) => {
        const allowed = guard.authorize(name);
        const d = await target.describe(name);
        return allowed === 'all' ? d : { ...d, keys: d.keys.filter((k) => allowed.includes(k)) };
      };
    case 'has':
      return async (name: string) => {
        guard.authorize(name);
        return target.has(name);
      };
    case 'list':
      return async () => {
        const names = await target.list();
        return declaration.all ? names : names.filter((n) => allowedKeys(declaration, n) !== null);
      };
    default:
      // history, diff: keys and version ids of a declared secret, never values.
      return async (name: string, ...rest: unknown[]) => {
        guard.authorize(name);
        return (Reflect.get(target, prop) as (...a: unknown[]) => unknown).call(target, name, ...rest);
      };
  }
}

function typed(s: Secret, schema: SecretSchema<unknown>): Secret & { data: unknown } {
  if (s.schema !== schema.name) {
    throw new SchemaValidationError(
      schema.name,
      [{ key: '', message: `secret '${s.name}' was registered with schema '${s.schema}'` }],
      `Register it again with \`keystack secret register ${s.name} --schema=${schema.name} ...\`.`,
    );
  }
  return { ...s, data: coerceValues(schema, s.values).data };
}

/**
 * The resolver of a step's view of the stack: a component field that is a reference resolves
 * only when the step declared that secret or key, and the read is the step's (recorded by its guard).
 */
class StepResolver extends ReferenceResolver {
  readonly #guard: SecretGuard;
  readonly #base: ReferenceResolver;

  constructor(base: ReferenceResolver, guard: SecretGuard, manager: SecretsManager | undefined) {
    super({ manager, stackName: base.stackName });
    this.#base = base;
    this.#guard = guard;
  }

  override async secret(name: string): Promise<Secret | null> {
    return (await this.versioned(name))?.secret ?? null;
  }

  override async versioned(name: string): Promise<VersionedSecret | null> {
    try {
      return await this.#guard.getVersioned(name);
    } catch (e) {
      if (e instanceof SecretNotFoundError) return null;
      throw e;
    }
  }

  /** A component's `secret(name)` called from step code is the step's read. */
  override secretFor(_who: string, name: string): Promise<Secret | null> {
    return this.secret(name);
  }

  override async resolveReference(ref: SecretReference, site?: ReferenceSite): Promise<string> {
    const manager = this.requireManager(ref, site);
    // The reference's text is not quoted: a sensitive field's stored text is masked like a value.
    const what = site ? `a reference in field '${site.field}' of ${site.type} '${site.component}'` : undefined;
    let s: Secret | null;
    try {
      s = await this.#guard.get(ref.name, { keys: [ref.key], what });
    } catch (e) {
      if (!(e instanceof SecretNotFoundError)) throw e;
      s = null;
    }
    return this.valueOf(ref, site, s, manager);
  }

  override forget(name?: string): void {
    this.#base.forget(name);
  }

  override onRead(): void {
    // A step's reads are its guard's records, never a component's.
  }
}

/**
 * Turns reads made by components' own code (the orchestrator, the artifact store writing
 * outputs) into access records of the run, with `component` set and no step.
 */
export function componentRecorder(o: {
  runId: string;
  pipeline: string;
  attempt: number;
  worker?: string | undefined;
  host?: string | undefined;
  manager: SecretsManager | undefined;
  sink: AccessSink;
  provenanceKey: () => Buffer;
}): (r: ComponentRead) => void {
  let key: Buffer | undefined;
  const fp = memoFingerprint((v) => fingerprint((key ??= o.provenanceKey()), v));
  const host = o.host ?? hostname();
  return (r) => {
    const fingerprints: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.values)) fingerprints[k] = fp(v);
    o.sink.record({
      runId: o.runId,
      pipeline: o.pipeline,
      step: undefined,
      component: r.component,
      attempt: o.attempt,
      worker: o.worker,
      host,
      at: new Date().toISOString(),
      manager: managerOf(o.manager),
      secret: r.secret,
      keys: r.keys,
      version: r.version ?? null,
      pinned: r.pinned ?? null,
      fingerprints,
      outcome: r.outcome,
      errorCode: r.errorCode,
    });
  };
}
