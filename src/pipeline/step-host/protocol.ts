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
  /** Undefined: the stack has no secrets manager. */
  secretsManager: { uuid: string; name: string; flavor: string } | undefined;
  components: ComponentView[];
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

export interface SecretRequest {
  kind: 'keystack.step.secret';
  id: number;
  token: string;
  runId: string;
  stepId: string;
  attempt: number;
  name: string;
  fresh: boolean;
}

export interface SecretReply {
  kind: 'keystack.step.secret-reply';
  id: number;
  secret?: { name: string; schema: string; values: Record<string, string>; types?: Record<string, string> };
  error?: { code: string; message: string; hint: string | undefined };
}

/** In the child: asks the parent for one secret with the step's capability. */
export type Requester = (name: string, fresh: boolean) => Promise<SecretReply>;

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
    typeof m['fresh'] === 'boolean'
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
    isObject(m['stack'])
  );
}

export function isSecretReply(m: unknown): m is SecretReply {
  return isObject(m) && m['kind'] === 'keystack.step.secret-reply' && typeof m['id'] === 'number';
}
