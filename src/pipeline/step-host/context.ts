/**
 * The step's context inside a step child, built by createStepContext like every other step's: the
 * same guard decides here, with the same denials and messages, and the same guarded
 * `context.stack`. Only how things are read differs: every read, and every call the step's
 * manager view passes on, goes to the parent over the capability, and the parent answers through
 * its own step context with its credentials. The child holds no credentials and no provenance
 * key; the parent records what it answers, and the denials this guard makes before asking.
 */
import { randomBytes } from 'node:crypto';
import type { HistoryEntry, Secret, SecretsManager } from '../../core/manager.js';
import type { AccessSink } from '../../core/provenance.js';
import { KeystackError, SecretAccessDeniedError, type ErrorCode } from '../../errors.js';
import { processMasker } from '../../support/masking.js';
import type { StackComponentType } from '../../stack/components.js';
import { StackRuntime } from '../../stack/runtime.js';
import type { GuardOptions } from '../access.js';
import { createStepContext, STEP_MANAGER_WRITES } from '../step-context.js';
import type { StepContext, StepNode } from '../step.js';
import type { DeniedNotice, ManagerOp, ManagerView, Requester, SecretReply, StartMessage } from './protocol.js';

export function childContext(
  start: StartMessage,
  node: StepNode,
  ask: Requester,
  notify: (n: Pick<DeniedNotice, 'secret' | 'keys' | 'pinned'>) => void,
): StepContext {
  const view = start.stack;
  const manager = view.secretsManager ? standInManager(view.secretsManager, ask) : undefined;
  const stack = StackRuntime.detached({
    record: { uuid: '', name: view.name, components: {}, stepOperators: [], createdAt: '' },
    components: view.components.map((c) => ({
      record: {
        uuid: '',
        type: c.type as StackComponentType,
        flavor: c.flavor,
        name: c.name,
        config: c.config,
        createdAt: '',
      },
      // The parent sent each config with its defaults and without sensitive plain values.
      flavor: { type: c.type as StackComponentType, name: c.flavor, description: '', config: {} },
    })),
    manager,
  });
  // Reads are recorded by the parent where it answers them; a denial here never reaches it otherwise.
  const sink: AccessSink = {
    record: (r) => {
      if (r.outcome === 'denied') notify({ secret: r.secret, keys: r.keys, pinned: r.pinned });
    },
  };
  // The guard fingerprints what it reads; those records stay here and are dropped, so any key will do.
  const throwaway = randomBytes(32);
  const read: GuardOptions['read'] = async (name, { fresh, version, keys }) => {
    const reply = await ask({
      name: version === undefined ? name : `${name}@${version}`,
      fresh,
      op: 'get',
      ...(keys ? { keys: [...keys] } : {}),
    });
    // The parent's guard found no such secret: this guard says so in its own words.
    if (reply.error?.code === 'not_found' && manager) return null;
    if (reply.error) throw replyError(node.step.name, name, reply.error);
    const s = reply.secret as unknown as Secret;
    processMasker.add(Object.values(s.values));
    return { secret: s, version: null };
  };
  return createStepContext({
    stack,
    runId: start.runId,
    pipeline: start.pipeline,
    node,
    attempt: start.attempt,
    sink,
    provenanceKey: () => throwaway,
    read,
  });
}

function replyError(stepName: string, name: string, e: NonNullable<SecretReply['error']>): KeystackError {
  if (e.code === 'denied') {
    // The same class as in-process, with the parent's message (it may be about the capability).
    const denied = new SecretAccessDeniedError(stepName, `the secret '${name}'`, name);
    denied.message = e.message;
    return denied;
  }
  return new KeystackError(e.code as ErrorCode, e.message, e.hint === undefined ? {} : { hint: e.hint });
}

/**
 * What the child's step context wraps as the stack's manager: its identity, and methods that ask
 * the parent (whose own guarded view of the step decides again). `get` never gets here: the
 * step context reads through its guard.
 */
function standInManager(m: ManagerView, ask: Requester): SecretsManager {
  const call = async (op: ManagerOp, name: string, extra: { method?: string; args?: unknown[] } = {}) => {
    const reply = await ask({ name, fresh: false, op, ...extra });
    if (reply.error) {
      const { code, message, hint } = reply.error;
      throw new KeystackError(code as ErrorCode, message, hint === undefined ? {} : { hint });
    }
    return reply.value;
  };
  const target: Record<string, unknown> = {
    uuid: m.uuid,
    name: m.name,
    flavor: { name: m.flavor },
    where: m.where ?? `secrets manager '${m.name}'`,
    // The parent's answers (a getter cannot wait for it). Where it had none, because it could not
    // build the backend, the getter throws, as the same getter throws in-process.
    get keepsVersions() {
      return answered(m, m.keepsVersions, 'keepsVersions');
    },
    get mergesAtomically() {
      return answered(m, m.mergesAtomically, 'mergesAtomically');
    },
    scope: m.scope,
    has: (name: string) => call('has', name),
    describe: (name: string) => call('describe', name),
    list: () => call('list', ''),
    history: async (name: string, options?: { limit?: number }) => {
      const entries = (await call('history', name, { args: options === undefined ? [] : [options] })) as HistoryEntry[];
      // A Date crosses the channel as its ISO text.
      return entries.map((e) => ({ ...e, createdAt: e.createdAt === null ? null : new Date(e.createdAt) }));
    },
    diff: (name: string, a?: string, b?: string) => call('diff', name, { args: [a ?? null, b ?? null] }),
  };
  // Passed to the parent, which allows them only with `'*'`.
  for (const method of STEP_MANAGER_WRITES) {
    target[method] = (...args: unknown[]) =>
      call('write', typeof args[0] === 'string' ? args[0] : '', { method, args: args.map(plain) });
  }
  return new Proxy(target, {
    get(t, prop) {
      if (prop in t) return t[prop as string];
      if (typeof prop === 'symbol' || prop === 'then') return undefined;
      return () => {
        throw new KeystackError('unsupported', `a step child cannot call the secrets manager's ${prop}()`, {
          hint: 'A step reads through context.secrets; other manager calls run in the parent only.',
        });
      };
    },
  }) as unknown as SecretsManager;
}

function answered(m: ManagerView, answer: boolean | undefined, getter: string): boolean {
  if (answer !== undefined) return answer;
  throw new KeystackError('config', `the secrets manager '${m.name}' could not be set up, so it has no ${getter}`, {
    hint: "Check the manager's configuration and the runner's credentials: `keystack stack validate`.",
  });
}

/** Arguments cross the IPC channel as JSON; a function (a schema's coercion) does not. */
function plain(a: unknown): unknown {
  return typeof a === 'function' ? undefined : a;
}
