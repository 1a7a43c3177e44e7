/**
 * The messages between a step host (the runner or a worker) and its step child, over the child's
 * private IPC channel (never argv or the environment). The child gets what it needs to run one
 * step and a capability for (run, step, attempt); it asks for secrets with that capability and
 * sends back the step's output. Every message is checked on arrival: the child is not trusted.
 */

/** A component as the child sees it: no secrets manager config, no sensitive plain value. */
export interface ComponentView {
  type: string;
  name: string;
  flavor: string;
  /** Plain values, and references as text (`{{name.key}}`), resolved on request if declared. */
  config: Record<string, unknown>;
}

export interface StackView {
  name: string;
  /** Undefined: the stack has no secrets manager. `where` is for the child's not-found messages. */
  secretsManager: ManagerView | undefined;
  components: ComponentView[];
}

/**
 * The run's manager as a step child's stand-in shows it: its identity, and the answers of its
 * getters (a getter cannot ask the parent and wait), so that they are the same as in-process.
 */
export interface ManagerView {
  uuid: string;
  name: string;
  flavor: string;
  where?: string;
  keepsVersions?: boolean | undefined;
  mergesAtomically?: boolean | undefined;
  scope?: { scope: string; namespace?: string; componentUuid: string; componentName: string; prefix: string };
}

export interface StartMessage {
  kind: 'keystack.step.start';
  runId: string;
  pipeline: string;
  stepId: string;
  attempt: number;
  /** Random, good for this (run, step, attempt) only while it runs. */
  token: string;
  /** Every value this run knows, so that what the step prints or throws is masked. */
  mask: string[];
  module: { path: string; exportName: string };
  inputs: Record<string, unknown>;
  stack: StackView;
}

/**
 * Sent to a pre-forked spare before it has a step: import this module now, so that the step that
 * comes starts at once. It carries no capability and nothing of a run; the start message that
 * follows names the same module, or the parent has killed the spare instead.
 */
export interface PrepareMessage {
  kind: 'keystack.step.prepare';
  module: { path: string; exportName: string };
}

export interface SecretRequest {
  kind: 'keystack.step.secret';
  id: number;
  token: string;
  runId: string;
  stepId: string;
  attempt: number;
  name: string;
  fresh: boolean;
  /** @default 'get'; the others are the step's guarded manager's (`context.stack.secretsManager`). */
  op?: ManagerOp;
  /** `get`: the keys a reference asks for; `name@V` carries a pin in `name`. */
  keys?: string[];
  /** `write`: the manager method (a step with `secrets: '*'` only). */
  method?: string;
  /**
   * `write`: the method's arguments, `name` first; `history`: `[{ limit? }]`; `diff`: `[a?, b?]`
   * (JSON, so a missing one may come as null; the parent checks them).
   */
  args?: unknown[];
}

export type ManagerOp = 'get' | 'has' | 'describe' | 'list' | 'history' | 'diff' | 'write';
const OPS: readonly string[] = ['get', 'has', 'describe', 'list', 'history', 'diff', 'write'];

/**
 * The child's guard denied a read before asking: the parent records the denial itself (the child
 * can only add denials of its own step; reads are recorded where they are answered).
 */
export interface DeniedNotice {
  kind: 'keystack.step.denied';
  token: string;
  runId: string;
  stepId: string;
  attempt: number;
  secret: string;
  keys: string[];
  pinned: string | null;
}

export interface SecretReply {
  kind: 'keystack.step.secret-reply';
  id: number;
  secret?: { name: string; schema: string; values: Record<string, string>; types?: Record<string, string> };
  /** What a manager op other than `get` returned. */
  value?: unknown;
  error?: { code: string; message: string; hint: string | undefined };
}

/** In the child: asks the parent with the step's capability. */
export type Requester = (
  request: Pick<SecretRequest, 'name' | 'fresh' | 'op' | 'keys' | 'method' | 'args'>,
) => Promise<SecretReply>;

/** A piece of the step's output (JSON text), so that a large output never is one message. */
export interface OutputChunk {
  kind: 'keystack.step.output';
  text: string;
}

export interface DoneMessage {
  kind: 'keystack.step.done';
  ok: boolean;
  /** Masked in the child, and again by the parent. */
  error?: string;
  /**
   * The same error unmasked, for the parent's leak guard only (a value in it fails the step as a
   * leak instead of being stored masked); the parent never prints or stores it.
   */
  rawError?: string;
  /**
   * The output failed the JSON check but was still sent (as `JSON.stringify` made it), so that
   * the parent's leak guard sees a value inside a binary output before the step fails.
   */
  outputRejected?: boolean;
  /** A keystack error's code (`config` is not retried on workers). */
  code?: string;
}

export const OUTPUT_CHUNK_CHARS = 256 * 1024;

function isObject(m: unknown): m is Record<string, unknown> {
  return typeof m === 'object' && m !== null;
}

export function isSecretRequest(m: unknown): m is SecretRequest {
  return (
    isObject(m) &&
    m['kind'] === 'keystack.step.secret' &&
    typeof m['id'] === 'number' &&
    typeof m['token'] === 'string' &&
    typeof m['runId'] === 'string' &&
    typeof m['stepId'] === 'string' &&
    typeof m['attempt'] === 'number' &&
    typeof m['name'] === 'string' &&
    typeof m['fresh'] === 'boolean' &&
    (m['op'] === undefined || (typeof m['op'] === 'string' && OPS.includes(m['op']))) &&
    (m['keys'] === undefined || (Array.isArray(m['keys']) && m['keys'].every((k) => typeof k === 'string'))) &&
    (m['method'] === undefined || typeof m['method'] === 'string') &&
    (m['args'] === undefined || Array.isArray(m['args']))
  );
}

export function isDeniedNotice(m: unknown): m is DeniedNotice {
  return (
    isObject(m) &&
    m['kind'] === 'keystack.step.denied' &&
    typeof m['token'] === 'string' &&
    typeof m['runId'] === 'string' &&
    typeof m['stepId'] === 'string' &&
    typeof m['attempt'] === 'number' &&
    typeof m['secret'] === 'string' &&
    Array.isArray(m['keys']) &&
    m['keys'].every((k) => typeof k === 'string') &&
    (m['pinned'] === null || typeof m['pinned'] === 'string')
  );
}

export function isOutputChunk(m: unknown): m is OutputChunk {
  return isObject(m) && m['kind'] === 'keystack.step.output' && typeof m['text'] === 'string';
}

export function isDone(m: unknown): m is DoneMessage {
  return (
    isObject(m) &&
    m['kind'] === 'keystack.step.done' &&
    typeof m['ok'] === 'boolean' &&
    (m['error'] === undefined || typeof m['error'] === 'string') &&
    (m['rawError'] === undefined || typeof m['rawError'] === 'string') &&
    (m['outputRejected'] === undefined || typeof m['outputRejected'] === 'boolean') &&
    (m['code'] === undefined || typeof m['code'] === 'string')
  );
}

export function isStart(m: unknown): m is StartMessage {
  return (
    isObject(m) &&
    m['kind'] === 'keystack.step.start' &&
    typeof m['token'] === 'string' &&
    Array.isArray(m['mask']) &&
    isObject(m['module']) &&
    isObject(m['stack']) &&
    (m['stack']['secretsManager'] === undefined || isManagerView(m['stack']['secretsManager']))
  );
}

export function isManagerView(m: unknown): m is ManagerView {
  const optional = (v: unknown, type: 'string' | 'boolean') => v === undefined || typeof v === type;
  return (
    isObject(m) &&
    typeof m['uuid'] === 'string' &&
    typeof m['name'] === 'string' &&
    typeof m['flavor'] === 'string' &&
    optional(m['where'], 'string') &&
    optional(m['keepsVersions'], 'boolean') &&
    optional(m['mergesAtomically'], 'boolean') &&
    (m['scope'] === undefined ||
      (isObject(m['scope']) &&
        typeof m['scope']['scope'] === 'string' &&
        optional(m['scope']['namespace'], 'string') &&
        typeof m['scope']['componentUuid'] === 'string' &&
        typeof m['scope']['componentName'] === 'string' &&
        typeof m['scope']['prefix'] === 'string'))
  );
}

export function isPrepare(m: unknown): m is PrepareMessage {
  return (
    isObject(m) &&
    m['kind'] === 'keystack.step.prepare' &&
    isObject(m['module']) &&
    typeof m['module']['path'] === 'string' &&
    typeof m['module']['exportName'] === 'string'
  );
}

export function isSecretReply(m: unknown): m is SecretReply {
  return isObject(m) && m['kind'] === 'keystack.step.secret-reply' && typeof m['id'] === 'number';
}
