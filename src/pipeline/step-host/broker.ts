/**
 * The parent's half of a step's capability: it answers the secret requests of one step child for
 * one (run, step, attempt), reading with the parent's own credentials through a SecretGuard, and
 * hands back only the declared keys. A request that names another run, step or attempt, or that
 * carries another token (an old one after its attempt ended), is denied and recorded.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { SecretsManager } from '../../core/manager.js';
import type { AccessRecord, AccessSink } from '../../core/provenance.js';
import { InputError, isKeystackError, KeystackError } from '../../errors.js';
import { processMasker } from '../../support/masking.js';
import type { Reader, StepSecrets } from '../access.js';
import { STEP_MANAGER_WRITES } from '../step-context.js';
import type { DeniedNotice, SecretReply, SecretRequest } from './protocol.js';

/** The manager methods a step child may call through its parent as writes (they need `secrets: '*'`). */
const WRITES: ReadonlySet<string> = new Set(STEP_MANAGER_WRITES);

export interface BrokerOptions {
  reader: Reader & { step: string };
  guard: StepSecrets;
  /** Where the guard records, so that a refused capability is on the same record. */
  sink: AccessSink;
  manager: AccessRecord['manager'];
  /**
   * The step's guarded manager (`context.stack.secretsManager` of the parent's step context), for
   * the ops other than `get`; undefined: the broker answers reads only.
   */
  stepManager?: (() => SecretsManager) | undefined;
}

export interface SecretBroker {
  /** The capability the child gets: good for this run, step and attempt until `end`. */
  readonly token: string;
  answer(request: SecretRequest): Promise<SecretReply>;
  /** The child's guard denied a read: recorded here, stamped with this step's own reader. */
  noteDenied(notice: DeniedNotice): void;
  /** The attempt is over: every later request with this token is denied. */
  end(): void;
}

export function createBroker(o: BrokerOptions): SecretBroker {
  const token = randomBytes(32).toString('base64url');
  let ended = false;
  const r = o.reader;
  const valid = (m: Pick<SecretRequest, 'token' | 'runId' | 'stepId' | 'attempt'>): boolean =>
    !ended && sameText(m.token, token) && m.runId === r.runId && m.stepId === r.step && m.attempt === r.attempt;
  const recordDenied = (secret: string, keys: string[], pinned: string | null, errorCode: string | null) =>
    o.sink.record({
      runId: r.runId,
      pipeline: r.pipeline,
      step: r.step,
      component: undefined,
      attempt: r.attempt,
      worker: r.worker,
      host: r.host,
      at: new Date().toISOString(),
      manager: o.manager,
      secret,
      keys,
      version: null,
      pinned,
      fingerprints: {},
      outcome: 'denied',
      errorCode,
    });
  const deny = (m: SecretRequest): SecretReply => {
    recordDenied(m.name, [], null, 'capability');
    return {
      kind: 'keystack.step.secret-reply',
      id: m.id,
      error: {
        code: 'denied',
        message: `step '${r.step}' asked for '${m.name}' with a capability that is not its own for this run, step and attempt`,
        hint: 'A step reads secrets through context.secrets only; its capability cannot be widened or reused.',
      },
    };
  };
  return {
    token,
    end() {
      ended = true;
    },
    noteDenied(n) {
      if (!valid(n)) recordDenied(n.secret, [], null, 'capability');
      else recordDenied(n.secret, n.keys, n.pinned, null);
    },
    async answer(m) {
      if (!valid(m)) return deny(m);
      try {
        const op = m.op ?? 'get';
        if (op !== 'get') return { kind: 'keystack.step.secret-reply', id: m.id, value: await managerOp(o, m) };
        const secret = await o.guard.get(m.name, { fresh: m.fresh, ...(m.keys ? { keys: m.keys } : {}) });
        return {
          kind: 'keystack.step.secret-reply',
          id: m.id,
          secret: {
            name: secret.name,
            schema: secret.schema,
            values: secret.values,
            ...(secret.types ? { types: secret.types } : {}),
          },
        };
      } catch (e) {
        const message = processMasker.mask(e instanceof Error ? e.message : String(e));
        return {
          kind: 'keystack.step.secret-reply',
          id: m.id,
          error: {
            code: isKeystackError(e) ? e.code : 'error',
            message,
            hint: isKeystackError(e) && e.hint !== undefined ? processMasker.mask(e.hint) : undefined,
          },
        };
      }
    },
  };
}

/**
 * has, describe, list, history, diff and (with `secrets: '*'`) writes, through the step's guarded
 * manager: it decides and records as it does for an in-process step. history and diff answer keys
 * and version ids, never values.
 */
async function managerOp(o: BrokerOptions, m: SecretRequest): Promise<unknown> {
  if (!o.stepManager) {
    throw new KeystackError('unsupported', `a step child can only read secrets here, not call ${m.op ?? 'get'}()`);
  }
  const manager = o.stepManager();
  if (m.op === 'has') return manager.has(m.name);
  if (m.op === 'describe') return manager.describe(m.name);
  if (m.op === 'list') return manager.list();
  if (m.op === 'history') return manager.history(m.name, historyOptions(m.args ?? []));
  if (m.op === 'diff') {
    const [a, b] = diffVersions(m.args ?? []);
    return manager.diff(m.name, a, b);
  }
  const method = m.method ?? '';
  const fn: unknown = WRITES.has(method) ? Reflect.get(manager, method) : undefined;
  if (typeof fn !== 'function') throw new KeystackError('unsupported', `a step child cannot call ${method}()`);
  return (fn as (...a: unknown[]) => unknown).apply(manager, m.args ?? []);
}

/**
 * `history`'s options as the child sent them: nothing, or `{ limit }` and nothing else. The
 * manager checks the limit itself after the guard has decided, with the words an in-process step gets.
 */
function historyOptions(args: unknown[]): { limit?: number } {
  const [options] = args;
  if (args.length > 1 || (options !== undefined && options !== null && !isPlainObject(options))) {
    throw new InputError('history() takes a secret name and an optional { limit }');
  }
  const limit: unknown = isPlainObject(options) ? options['limit'] : undefined;
  return limit === undefined || limit === null ? {} : { limit: limit as number };
}

/** `diff`'s two version tokens, each optional (JSON turns a missing one into null). */
function diffVersions(args: unknown[]): [string | undefined, string | undefined] {
  if (args.length > 2 || !args.every((a) => a === undefined || a === null || typeof a === 'string')) {
    throw new InputError('diff() takes a secret name and up to two versions, as text');
  }
  const [a, b] = args;
  return [a ?? undefined, b ?? undefined];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
