/**
 * Steps and pipelines. A step is a typed async function; a pipeline is a function that calls
 * steps, wiring the output of one into the inputs of others. Calling a step inside a pipeline
 * does not run it: it records a node of the graph and returns a handle to its future output.
 *
 * Steps, pipelines and handles are plain objects tagged with `kind`, so that a pipeline module
 * that imports keystack from one copy of the package can be run by another (the CLI bundle).
 */
import { ConfigError } from '../errors.js';
import type { StackRuntime } from '../stack/runtime.js';
import { parseDeclaration, type SecretDeclaration, type SecretsOption, type StepSecrets } from './access.js';

/** What a step gets as its second argument. */
export interface StepContext {
  /**
   * The stack the run uses, seen through the step's declaration: `stack.secretsManager` is the
   * same guarded view as `secrets`, and a component field that is a `{{reference}}` resolves only
   * if the step declared that secret (or key).
   */
  readonly stack: StackRuntime;
  /** The secrets the step declared in `step({ secrets })`, each read once per run unless `{ fresh: true }`. */
  readonly secrets: StepSecrets;
  readonly stepName: string;
  /** Unique within the run: the step name, or `name_2`, … when a step is called again. */
  readonly stepId: string;
  readonly runId: string;
  readonly pipelineName: string;
}

/** A handle to a step's output, inside a pipeline definition. */
export interface StepOutput<T> {
  readonly kind: 'keystack.output';
  readonly stepId: string;
  /** Type carrier only; never set. */
  readonly __type?: T;
}

/** Each input is either another step's output or a plain JSON value (a parameter). */
export type StepInputs<I> = { [K in keyof I]: StepOutput<I[K]> | I[K] };

export interface StepOptions<I, O> {
  name: string;
  /**
   * Reuse the output of an earlier run with the same code, parameters and input contents.
   * Default: on, except for steps that take the context (they may read secrets).
   */
  enableCache?: boolean;
  /**
   * The name of a step operator of the stack that runs this step (e.g. GPU workers), instead of
   * the orchestrator's own workers. Needs a remote orchestrator (bullmq). @default none
   */
  stepOperator?: string;
  /**
   * The secrets the step reads: a name is the whole secret, `name.key` one key, `name@V` a pinned
   * version. A read of anything else fails with SecretAccessDeniedError (code `denied`). `'*'`
   * allows every secret and writes, and is warned about on every run. @default none: the step reads no secret
   */
  secrets?: SecretsOption;
  /**
   * What the leak guard lets this step's output contain: `name.key` allows the value of one key of
   * a secret, `name` every key of it. For a step whose job is to produce a credential (a token
   * minter); its output always goes to the artifact store. @default none: an output holding a
   * value the run was given fails the step with SecretLeakError (code `secret_leak`)
   */
  allowSecretOutputs?: readonly string[];
  run: (inputs: I, context: StepContext) => Promise<O> | O;
}

export interface StepDefinition<I = Record<string, unknown>, O = unknown> {
  readonly kind: 'keystack.step';
  readonly name: string;
  readonly enableCache: boolean | undefined;
  /** Whether `run` declares the context parameter (this turns caching off by default). */
  readonly usesContext: boolean;
  /** The step operator that runs it; undefined: the orchestrator does. */
  readonly stepOperator: string | undefined;
  /** The `secrets` option as written. */
  readonly secrets: SecretsOption | undefined;
  /** What the step may read, parsed from `secrets`. */
  readonly declaration: SecretDeclaration;
  /** `allowSecretOutputs` as written (checked); empty: nothing is allowed. */
  readonly allowSecretOutputs: readonly string[];
  readonly run: (inputs: I, context: StepContext) => Promise<O> | O;
}

export type Step<I, O> = StepDefinition<I, O> &
  ((...args: Record<string, never> extends I ? [inputs?: StepInputs<I>] : [inputs: StepInputs<I>]) => StepOutput<O>);

/** A node of a pipeline's graph: one call of a step. */
export interface StepNode {
  id: string;
  step: StepDefinition<never>;
  /** Input name → the producing step's id. */
  upstream: Record<string, string>;
  /** Input name → a plain value. */
  params: Record<string, unknown>;
  /** The step operator that runs this node (its step's); undefined: the orchestrator does. */
  stepOperator: string | undefined;
}

export interface PipelineOptions {
  /** Default cache setting for steps that do not set their own. @default true */
  enableCache?: boolean;
}

export interface Pipeline {
  readonly kind: 'keystack.pipeline';
  readonly name: string;
  readonly enableCache: boolean;
  /** Calls the definition and returns its steps in a valid execution order. */
  graph(): StepNode[];
}

const STEP_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

let building: StepNode[] | undefined;

export function step<I = Record<string, never>, O = unknown>(options: StepOptions<I, O>): Step<I, O> {
  if (!STEP_NAME.test(options.name)) {
    throw new ConfigError(`invalid step name ${JSON.stringify(options.name)}`, {
      hint: 'Use letters, digits, _ and -, starting with a letter or _.',
    });
  }
  if (options.stepOperator !== undefined && (typeof options.stepOperator !== 'string' || options.stepOperator === '')) {
    throw new ConfigError(`the stepOperator of step '${options.name}' must be the name of a step operator`, {
      hint: 'See them with `keystack step-operator list`.',
    });
  }
  const declaration = parseDeclaration(options.name, options.secrets);
  const allowSecretOutputs = parseAllowSecretOutputs(options.name, options.allowSecretOutputs);
  const definition: StepDefinition<I, O> = {
    kind: 'keystack.step',
    name: options.name,
    enableCache: options.enableCache,
    usesContext: options.run.length >= 2,
    stepOperator: options.stepOperator,
    secrets: options.secrets,
    declaration,
    allowSecretOutputs,
    run: options.run,
  };
  const call = (inputs: Record<string, unknown> = {}): StepOutput<O> => {
    if (!building) {
      throw new ConfigError(`step '${options.name}' was called outside a pipeline definition`, {
        hint: 'Call steps inside the function given to pipeline(...), and run the pipeline with `keystack pipeline run FILE`.',
      });
    }
    const nodes = building;
    const known = new Set(nodes.map((n) => n.id));
    let id = options.name;
    for (let i = 2; known.has(id); i++) id = `${options.name}_${i}`;
    const upstream: Record<string, string> = {};
    const params: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(inputs)) {
      if (isStepOutput(v)) {
        if (!known.has(v.stepId))
          throw new ConfigError(`input '${k}' of step '${id}' comes from step '${v.stepId}' of another pipeline`);
        upstream[k] = v.stepId;
      } else {
        checkJson(v, `parameter '${k}' of step '${id}'`);
        params[k] = v;
      }
    }
    nodes.push({ id, step: definition, upstream, params, stepOperator: definition.stepOperator });
    return { kind: 'keystack.output', stepId: id };
  };
  // `name` is a read-only property of functions, so Object.assign would throw.
  for (const [k, v] of Object.entries(definition)) Object.defineProperty(call, k, { value: v, enumerable: true });
  return call as unknown as Step<I, O>;
}

export function pipeline(name: string, definition: () => unknown, options: PipelineOptions = {}): Pipeline {
  if (!STEP_NAME.test(name))
    throw new ConfigError(`invalid pipeline name ${JSON.stringify(name)}`, { hint: 'Use letters, digits, _ and -.' });
  return {
    kind: 'keystack.pipeline',
    name,
    enableCache: options.enableCache ?? true,
    graph() {
      if (building) throw new ConfigError(`pipeline '${name}' was built inside another pipeline definition`);
      const nodes: StepNode[] = [];
      building = nodes;
      try {
        definition();
      } finally {
        building = undefined;
      }
      if (nodes.length === 0)
        throw new ConfigError(`pipeline '${name}' has no steps`, { hint: 'Call at least one step in its definition.' });
      return nodes;
    },
  };
}

export function isStepOutput(x: unknown): x is StepOutput<unknown> {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'keystack.output';
}

export function isPipeline(x: unknown): x is Pipeline {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'keystack.pipeline';
}

/** Whether caching applies: an explicit step setting wins; then the context rule; then the pipeline's. */
export function cacheEnabled(s: StepDefinition<never>, p: Pipeline): boolean {
  if (s.enableCache !== undefined) return s.enableCache;
  if (s.usesContext) return false;
  return p.enableCache;
}

/** Values cross process boundaries and land in the artifact store as JSON. */
export function checkJson(value: unknown, what: string): void {
  const bad = findNonJson(value, new Set());
  if (bad !== undefined) {
    throw new ConfigError(`${what} is not JSON data (${bad})`, {
      hint: 'Steps exchange JSON values: objects, arrays, strings, numbers, booleans and null.',
    });
  }
}

function findNonJson(v: unknown, seen: Set<object>): string | undefined {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return undefined;
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : String(v);
  if (v === undefined) return undefined;
  if (typeof v !== 'object') return `a ${typeof v}`;
  if (seen.has(v)) return 'a circular structure';
  seen.add(v);
  const proto = Object.getPrototypeOf(v) as unknown;
  if (!Array.isArray(v) && proto !== Object.prototype && proto !== null)
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- an object whose prototype chain has no constructor (Object.create(Object.create(null))) has none
    return `a ${v.constructor?.name ?? 'class instance'}`;
  for (const x of Object.values(v)) {
    const bad = findNonJson(x, seen);
    if (bad !== undefined) return bad;
  }
  seen.delete(v);
  return undefined;
}

/** `allowSecretOutputs` checked: a list of `name` or `name.key`, each once. */
function parseAllowSecretOutputs(stepName: string, v: unknown): readonly string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '' || /\s/.test(x))) {
    throw new ConfigError(`the allowSecretOutputs of step '${stepName}' must be a list of 'name' or 'name.key'`, {
      hint: "For example step({ name, allowSecretOutputs: ['db.password'], run }).",
    });
  }
  return Object.freeze([...new Set(v as string[])]);
}
