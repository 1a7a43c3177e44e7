/**
 * The JSON views several commands share (a manager, a stack, a component, a run, a config field),
 * built from the zod a definition's `shape` is given, so that a definition file imports zod as a
 * type only and start-up never loads it. `views(z)` is cached per zod namespace: the docs
 * generator and the json-shapes test ask for it once per command.
 */
import { COMPONENT_KEY, SINGLE_COMPONENT_TYPES, STACK_COMPONENT_TYPES } from '../stack/config-store.js';
import type { Zod } from './define.js';

const CACHE = new WeakMap<object, ReturnType<typeof build>>();

/** The shared views, built once per zod namespace. */
export function views(z: Zod): ReturnType<typeof build> {
  let v = CACHE.get(z);
  if (!v) CACHE.set(z, (v = build(z)));
  return v;
}

function build(z: Zod) {
  const name = z.string();
  const names = z.array(z.string());
  /** Config as every view shows it: field name → value, sensitive values as `***`. */
  const config = z.record(z.string(), z.unknown());
  const scope = z.enum(['none', 'global', 'component', 'namespace']);

  const managerView = z.strictObject({ name, id: z.string(), flavor: z.string(), config, createdAt: z.string() });
  const stackView = z.strictObject({
    name,
    id: z.string(),
    components: z.strictObject(
      Object.fromEntries(SINGLE_COMPONENT_TYPES.map((t) => [COMPONENT_KEY[t], z.string().optional()])),
    ),
    /** A stack may have several step operators. */
    stepOperators: names,
  });
  const componentView = z.strictObject({
    name,
    id: z.string(),
    type: z.enum(STACK_COMPONENT_TYPES),
    flavor: z.string(),
    config,
    createdAt: z.string(),
  });
  const configField = z.strictObject({
    type: z.string(),
    description: z.string(),
    required: z.boolean().optional(),
    default: z.union([z.string(), z.boolean(), z.number()]).optional(),
    choices: names.optional(),
    sensitive: z.boolean().optional(),
    env: z.string().optional(),
    allowReference: z.boolean().optional(),
  });
  const keyDiff = z.strictObject({ added: names, removed: names, changed: names, schemaFrom: z.string().optional() });
  const planEntry = z.strictObject({
    name,
    action: z.enum(['create', 'update', 'unchanged', 'skip', 'conflict']),
    schema: z.string(),
    keys: names,
    differs: keyDiff.optional(),
  });

  const run = z.strictObject({
    id: z.string(),
    pipeline: z.string(),
    stack: z.string(),
    orchestrator: z.string(),
    module: z.string().nullable(),
    exportName: z.string().nullable(),
    status: z.enum(['running', 'completed', 'failed', 'interrupted']),
    startedAt: z.string(),
    endedAt: z.string().nullable(),
    error: z.string().nullable(),
  });
  const step = z.strictObject({
    step: z.string(),
    name: z.string(),
    status: z.enum(['pending', 'running', 'completed', 'cached', 'failed', 'skipped', 'interrupted']),
    durationMs: z.number().nullable(),
    cacheEnabled: z.boolean(),
    cachedFrom: z.string().nullable(),
    output: z.string().nullable(),
    error: z.string().nullable(),
    /** Remote steps: the worker that ran it, and how many attempts it took; null for local runs. */
    worker: z.string().nullable(),
    attempts: z.number().int().nullable(),
    /** What the step declared it reads (`secrets:`): '*', the list, or null (nothing). */
    declared: z.union([z.literal('*'), names]).nullable(),
    /** What the leak guard lets the step's output contain (`allowSecretOutputs`: `name` or `name.key`); empty: nothing. */
    allowSecretOutputs: names,
  });
  const runWithSteps = z.strictObject({ run, steps: z.array(step) });
  /** One secret access made for a run: who, what, which version, and the outcome; never a value. */
  const access = z.strictObject({
    runId: z.string(),
    pipeline: z.string(),
    step: z.string().nullable(),
    component: z.string().nullable(),
    attempt: z.number().int(),
    worker: z.string().nullable(),
    host: z.string(),
    at: z.string(),
    manager: z.strictObject({ uuid: z.string(), name: z.string(), flavor: z.string() }),
    secret: z.string(),
    keys: names,
    version: z.string().nullable(),
    pinned: z.string().nullable(),
    outcome: z.enum(['read', 'denied', 'not_found', 'error']),
    errorCode: z.string().nullable(),
  });
  /** `pipeline runs describe`: each step with its accesses, and the accesses made outside steps. */
  const runDescribed = z.strictObject({
    run,
    /** `upstream`: the steps whose outputs it took as inputs (empty until it starts). */
    steps: z.array(z.strictObject({ ...step.shape, upstream: names, accesses: z.array(access) })),
    accesses: z.array(access),
  });

  const secretShapes = {
    register: z.strictObject({ name, schema: z.string(), keys: names, manager: z.string(), scope }),
    get: z.union([
      // `values` are all strings (the contract scripts rely on); `data` has each value's JSON type.
      z.strictObject({
        name,
        schema: z.string(),
        values: z.record(z.string(), z.string()),
        data: z.record(z.string(), z.unknown()),
      }),
      // With `--key KEY`.
      z.strictObject({ name, key: z.string(), value: z.string() }),
    ]),
    /** `keystack read NAME.KEY`: as `secret get --key`. */
    read: z.strictObject({ name, key: z.string(), value: z.string() }),
    list: z.strictObject({ manager: z.string(), scope, secrets: names }),
    update: z.strictObject({
      name,
      schema: z.string(),
      keys: names,
      set: names,
      removed: names,
      manager: z.string(),
      scope,
    }),
    /** `created`: false when it merged into an existing secret (`removed` is then what it removed). */
    set: z.strictObject({
      name,
      schema: z.string(),
      created: z.boolean(),
      keys: names,
      set: names,
      removed: names,
      manager: z.string(),
      scope,
    }),
    delete: z.strictObject({ name, deleted: z.literal(true), manager: z.string(), scope }),
    'delete-all': z.strictObject({ manager: z.string(), scope, deleted: z.number().int() }),
    /** Times are null where the flavor does not keep them (only local does today). */
    describe: z.strictObject({
      name,
      manager: z.string(),
      scope,
      schema: z.string(),
      keys: names,
      bytes: z.number().int(),
      createdAt: z.string().nullable(),
      updatedAt: z.string().nullable(),
    }),
    copy: z.strictObject({
      from: z.string(),
      fromScope: scope,
      to: z.string(),
      toScope: scope,
      dryRun: z.boolean(),
      plan: z.array(planEntry),
      written: names,
      deleted: names,
    }),
    /** `plan` holds the one write (NEW created); `renamed` is false on a dry run. */
    rename: z.strictObject({
      from: name,
      to: name,
      manager: z.string(),
      scope,
      dryRun: z.boolean(),
      plan: z.array(planEntry),
      renamed: z.boolean(),
    }),
  };

  const credentialSource = z.union([
    z.strictObject({ from: z.literal('config') }),
    z.strictObject({ from: z.literal('env'), variable: z.string() }),
    z.strictObject({ from: z.literal('unset'), variable: z.string().optional() }),
  ]);

  const componentShapes = {
    register: componentView,
    list: z.strictObject({ components: z.array(componentView.extend({ active: z.boolean() })) }),
    describe: componentView.extend({ stacks: names, requiresAuthentication: z.boolean().optional() }),
    update: componentView,
    delete: componentView.extend({ deleted: z.literal(true) }),
    'flavor list': z.strictObject({
      flavors: z.array(
        z.strictObject({
          name,
          description: z.string(),
          remote: z.boolean(),
          local: z.boolean(),
          config: z.record(z.string(), configField),
        }),
      ),
    }),
    'flavor describe': z.strictObject({
      name,
      type: componentView.shape.type,
      description: z.string(),
      remote: z.boolean(),
      local: z.boolean(),
      config: z.record(z.string(), configField),
    }),
  };

  return {
    name,
    names,
    config,
    scope,
    managerView,
    stackView,
    componentView,
    configField,
    keyDiff,
    planEntry,
    run,
    step,
    runWithSteps,
    access,
    runDescribed,
    secretShapes,
    credentialSource,
    componentShapes,
  };
}
