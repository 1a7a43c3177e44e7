/**
 * Step operators: a component type of which a stack holds any number (one of each name), the
 * `keystack step-operator …` commands, `--step-operator` on stacks, `step({ stepOperator })`, and
 * the validation a pipeline gets before anything runs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExistsError, InUseError, NotFoundError, StackValidationError } from '../../src/errors.js';
import { Keystack } from '../../src/stack/client.js';
import { registerComponent, deleteComponent } from '../../src/stack/component-ops.js';
import { StackRuntime } from '../../src/stack/runtime.js';
import { validatePipeline, validateStack } from '../../src/stack/validation.js';
import { pipeline, RunStore, runPipeline, step } from '../../src/pipeline/index.js';
import { cli, expectCleanError, tempEnv } from '../support/cli.js';

let ks: Keystack | undefined;
afterEach(async () => ks?.close());

function fresh(): Keystack {
  ks = new Keystack({ configDir: mkdtempSync(join(tmpdir(), 'keystack-stepop-')), env: {} });
  return ks;
}

/** Two bullmq step operators and a stack `remote` with a bullmq orchestrator, an s3 store and a vault manager. */
async function remoteStack(k: Keystack, stepOperators: string[] = ['gpu', 'cpu']): Promise<void> {
  registerComponent(k, {
    type: 'step_operator',
    name: 'gpu',
    flavor: 'bullmq',
    config: { redis_url: '{{redis.url}}', queue: 'gpu' },
  });
  registerComponent(k, {
    type: 'step_operator',
    name: 'cpu',
    flavor: 'bullmq',
    config: { redis_url: '{{redis.url}}', queue: 'cpu' },
  });
  registerComponent(k, {
    type: 'orchestrator',
    name: 'queue',
    flavor: 'bullmq',
    config: { redis_url: '{{redis.url}}' },
  });
  registerComponent(k, {
    type: 'artifact_store',
    name: 'bucket',
    flavor: 's3',
    config: { path: 's3://keystack-artifacts/runs' },
  });
  await k.registerSecretsManager({ name: 'vault', flavor: 'vault', config: { url: 'http://127.0.0.1:1' } });
  k.registerStack(
    'remote',
    { orchestrator: 'queue', artifact_store: 'bucket', secrets_manager: 'vault' },
    stepOperators,
  );
}

const train = step({ name: 'train', stepOperator: 'gpu', run: async () => 1 });
const evaluate = step({ name: 'evaluate', stepOperator: 'tpu', run: async ({ m }: { m: number }) => m });
const report = step({ name: 'report', run: async ({ m }: { m: number }) => m });

describe('step operators in the library', () => {
  it('a stack holds any number of them, one of each name; the runtime lists them and finds one by name', async () => {
    const k = fresh();
    await remoteStack(k);
    expect(k.store.getStack('remote').stepOperators).toEqual(
      ['gpu', 'cpu'].map((n) => k.store.getComponent('step_operator', n).uuid),
    );
    const rt = await StackRuntime.load(k, { stack: 'remote' });
    expect(rt.stepOperators().map((c) => [c.name, c.type, c.flavor.name, c.config['queue']])).toEqual([
      ['gpu', 'step_operator', 'bullmq', 'gpu'],
      ['cpu', 'step_operator', 'bullmq', 'cpu'],
    ]);
    expect(rt.stepOperator('gpu')?.name).toBe('gpu');
    expect(rt.stepOperator('tpu')).toBeUndefined();
    // Their references are the stack's too.
    expect(rt.requiredSecrets()).toEqual([{ name: 'redis', key: 'url' }]);

    // Adding one twice keeps one; a second component of the same name cannot exist.
    expect(k.updateStack('remote', {}, { add: ['gpu'] }).stepOperators).toHaveLength(2);
    expect(() =>
      registerComponent(k, {
        type: 'step_operator',
        name: 'gpu',
        flavor: 'bullmq',
        config: { redis_url: '{{r.u}}', queue: 'q' },
      }),
    ).toThrow(ExistsError);
    expect(k.updateStack('remote', {}, { remove: ['cpu'] }).stepOperators).toEqual([
      k.store.getComponent('step_operator', 'gpu').uuid,
    ]);
    expect(() => k.updateStack('remote', {}, { remove: ['cpu'] })).toThrow(NotFoundError);
    expect(() => k.updateStack('remote', {}, { add: ['nope'] })).toThrow(/no step-operator named 'nope'/);
  });

  it('deleting a step operator that a stack uses is refused, naming the stack', async () => {
    const k = fresh();
    await remoteStack(k);
    expect(() => deleteComponent(k, 'step_operator', 'gpu')).toThrow(InUseError);
    expect(() => deleteComponent(k, 'step_operator', 'gpu')).toThrow("step-operator 'gpu' is used by stack 'remote'");
    k.updateStack('remote', {}, { remove: ['gpu'] });
    expect(deleteComponent(k, 'step_operator', 'gpu').name).toBe('gpu');
  });

  it('the flavors: bullmq step operators need redis_url and queue; the bullmq orchestrator has defaults', () => {
    const k = fresh();
    expect(() =>
      registerComponent(k, { type: 'step_operator', name: 'a', flavor: 'bullmq', config: { queue: 'q' } }),
    ).toThrow(/needs the config field 'redis_url'/);
    expect(() =>
      registerComponent(k, { type: 'step_operator', name: 'a', flavor: 'bullmq', config: { redis_url: '{{r.u}}' } }),
    ).toThrow(/needs the config field 'queue'/);
    expect(() =>
      registerComponent(k, {
        type: 'step_operator',
        name: 'a',
        flavor: 'bullmq',
        config: { redis_url: '{{r.u}}', queue: '{{q.q}}' },
      }),
    ).toThrow(/cannot be a secret reference/);
    const plain = registerComponent(k, {
      type: 'step_operator',
      name: 'a',
      flavor: 'bullmq',
      config: { redis_url: 'redis://:pw@127.0.0.1:6379', queue: 'q' },
    });
    expect(plain.warnings.join()).toContain("plain-text value for the sensitive field 'redis_url'");
    const orch = registerComponent(k, {
      type: 'orchestrator',
      name: 'o',
      flavor: 'bullmq',
      config: { redis_url: '{{r.u}}', attempts: '5' },
    }).record;
    expect(orch.config).toMatchObject({ attempts: 5 });
  });

  it('step({ stepOperator }) is kept on the step and on its nodes', () => {
    const p = pipeline('p', () => report({ m: train() }));
    expect(train.stepOperator).toBe('gpu');
    expect(p.graph().map((n) => [n.id, n.stepOperator])).toEqual([
      ['train', 'gpu'],
      ['report', undefined],
    ]);
    expect(() => step({ name: 'x', stepOperator: '', run: async () => 1 })).toThrow(
      /must be the name of a step operator/,
    );
  });

  it('validatePipeline: every step operator a pipeline names must be in the stack, each missing one named', async () => {
    const k = fresh();
    await remoteStack(k, ['gpu']);
    const rt = await StackRuntime.load(k, { stack: 'remote' });
    const p = pipeline('training', () => {
      const m = train();
      evaluate({ m });
      step({ name: 'eval2', stepOperator: 'tpu', run: async ({ m: x }: { m: number }) => x })({ m });
      step({ name: 'other', stepOperator: 'fpga', run: async () => 0 })();
    });
    expect(validatePipeline(p, rt)).toEqual([
      "pipeline 'training' names step-operator 'tpu' (steps 'evaluate', 'eval2'), which stack 'remote' does not have",
      "pipeline 'training' names step-operator 'fpga' (step 'other'), which stack 'remote' does not have",
    ]);
    expect(
      validatePipeline(
        pipeline('ok', () => report({ m: train() })),
        rt,
      ),
    ).toEqual([]);
  });

  it('runPipeline refuses before anything runs: a missing step operator (with the command that adds it), or a local orchestrator', async () => {
    const k = fresh();
    let ran = 0;
    const gpuStep = step({ name: 'train', stepOperator: 'gpu', run: async () => ++ran });
    const p = pipeline('training', () => report({ m: gpuStep() }));
    // The default stack: local orchestrator, no step operators.
    const err = (await runPipeline(k, p).catch((e: unknown) => e)) as StackValidationError;
    expect(err).toBeInstanceOf(StackValidationError);
    expect(err.message).toContain(
      "pipeline 'training' names step-operator 'gpu' (step 'train'), which stack 'default' does not have",
    );
    expect(err.message).toContain(
      "step operators need the bullmq orchestrator: step 'train' of pipeline 'training' names a step operator, but stack 'default' runs on orchestrator 'default' (flavor local)",
    );
    expect(err.hint).toContain('keystack stack update default --step-operator gpu');
    expect(ran).toBe(0);
    expect(new RunStore(k.store).listRuns()).toEqual([]);

    // With the step operator in a stack whose orchestrator is local: still refused, as a limitation.
    registerComponent(k, {
      type: 'step_operator',
      name: 'gpu',
      flavor: 'bullmq',
      config: { redis_url: '{{redis.url}}', queue: 'gpu' },
    });
    k.registerStack('local-gpu', { orchestrator: 'default', artifact_store: 'default', secrets_manager: 'default' }, [
      'gpu',
    ]);
    await (await k.secretsManager()).register('redis', { url: 'redis://:pw@127.0.0.1:6379' });
    const local = (await runPipeline(k, p, { stack: 'local-gpu' }).catch((e: unknown) => e)) as StackValidationError;
    expect(local.message).toMatch(/step operators need the bullmq orchestrator/);
    expect(local.message).not.toContain('does not have');
    expect(ran).toBe(0);
  });

  it('a remote step operator refuses local-only components like a remote orchestrator, each named', async () => {
    const k = fresh();
    registerComponent(k, {
      type: 'step_operator',
      name: 'gpu',
      flavor: 'bullmq',
      config: { redis_url: '{{redis.url}}', queue: 'gpu' },
    });
    k.registerStack('mixed', { orchestrator: 'default', artifact_store: 'default', secrets_manager: 'default' }, [
      'gpu',
    ]);
    const r = await validateStack(k, { stack: 'mixed', level: 'NONE' });
    // The orchestrator is not the step operator's to use; the store and the manager are.
    expect(r.problems).toEqual([
      "the remote step-operator 'gpu' (flavor bullmq) cannot use artifact-store 'default' (flavor local), which exists only on this machine",
      "the remote step-operator 'gpu' (flavor bullmq) cannot use secrets-manager 'default' (flavor local), which exists only on this machine",
    ]);
    // A fully remote stack passes.
    await k.close();
    const r2 = fresh();
    await remoteStack(r2);
    expect((await validateStack(r2, { stack: 'remote', level: 'NONE' })).problems).toEqual([]);
  });
});

describe('keystack step-operator and stack --step-operator', () => {
  it('registers, lists, describes, updates and deletes step operators; stacks take several', () => {
    const e = tempEnv();
    const ok = (args: string[]) => {
      const r = cli(e, args);
      expect(r.status, r.stderr).toBe(0);
      return r;
    };
    const reg = ok(['step-operator', 'register', 'gpu', '--flavor=bullmq', '--redis_url={{redis.url}}', '--queue=gpu']);
    expect(reg.stdout).toContain('keystack stack register STACK --step-operator gpu -x default --set');
    ok(['step-operator', 'register', 'cpu', '-f', 'bullmq', '--redis_url={{redis.url}}', '--queue=cpu']);
    expect(ok(['step-operator', 'list']).stdout).toMatch(/cpu\s+bullmq[\s\S]*gpu\s+bullmq/);
    expect(ok(['step-operator', 'describe', 'gpu']).stdout).toMatch(/redis_url\s+\{\{redis\.url\}\}[\s\S]*queue\s+gpu/);
    const plain = ok(['step-operator', 'update', 'gpu', '--redis_url=redis://:hunter2-redis@127.0.0.1:6379']);
    expect(plain.stderr).toContain("sensitive field 'redis_url'");
    const desc = ok(['--json', 'step-operator', 'describe', 'gpu']);
    expect((JSON.parse(desc.stdout) as { config: Record<string, unknown> }).config['redis_url']).toBe('***');
    expect(desc.stdout + plain.stdout + plain.stderr).not.toContain('hunter2-redis');
    expect(ok(['step-operator', 'flavor', 'list']).stdout).toMatch(/bullmq[\s\S]*redis_url \(sensitive\), queue/);
    expect(ok(['step-operator', 'flavor', 'describe', 'bullmq']).stdout).toMatch(
      /remote[\s\S]*redis_url\s+string\s+yes/,
    );
    expect(ok(['orchestrator', 'flavor', 'describe', 'bullmq']).stdout).toMatch(
      /queue\s+string\s+no\s+keystack[\s\S]*attempts\s+integer\s+no\s+3[\s\S]*backoff_ms\s+integer\s+no\s+1000[\s\S]*step_timeout_seconds\s+integer\s+no\s+0/,
    );

    ok(['stack', 'register', 'two', '-x', 'default', '--step-operator', 'gpu', '--step-operator', 'cpu']);
    const d = JSON.parse(ok(['--json', 'stack', 'describe', 'two']).stdout) as { stepOperators: string[] };
    expect(d.stepOperators).toEqual(['gpu', 'cpu']);
    expect(ok(['stack', 'describe', 'two']).stdout).toMatch(
      /step-operator\s+gpu\s+bullmq[\s\S]*step-operator\s+cpu\s+bullmq/,
    );
    expect(ok(['stack', 'list']).stdout).toMatch(/STEP-OPERATORS[\s\S]*two.*gpu, cpu/);
    ok(['stack', 'update', 'two', '--remove-step-operator', 'cpu']);
    expect(
      (JSON.parse(ok(['--json', 'stack', 'describe', 'two']).stdout) as { stepOperators: string[] }).stepOperators,
    ).toEqual(['gpu']);
    ok(['stack', 'update', 'two', '--step-operator', 'cpu']);
    expect(
      (JSON.parse(ok(['--json', 'stack', 'describe', 'two']).stdout) as { stepOperators: string[] }).stepOperators,
    ).toEqual(['gpu', 'cpu']);

    expectCleanError(cli(e, ['step-operator', 'delete', 'gpu']), 1, {
      message: /step-operator 'gpu' is used by stack 'two'/,
    });
    expectCleanError(cli(e, ['stack', 'update', 'two', '--remove-step-operator', 'tpu']), 1, {
      message: /no step-operator named 'tpu'/,
    });
    expectCleanError(cli(e, ['stack', 'register', 'bad', '--step-operator', 'tpu']), 1, {
      message: /no step-operator named 'tpu'/,
    });
    expectCleanError(cli(e, ['stack', 'update', 'two']), 2, { message: /nothing to change/ });
    expectCleanError(cli(e, ['step-operator', 'register', 'x', '-f', 'bullmq', '--queue=q']), 1, {
      message: /needs the config field 'redis_url'/,
    });
    ok(['stack', 'update', 'two', '--remove-step-operator', 'gpu', '--remove-step-operator', 'cpu']);
    ok(['step-operator', 'delete', 'gpu', '-y']);
    expectCleanError(cli(e, ['step-operator', 'describe', 'gpu']), 1);
  });
});
