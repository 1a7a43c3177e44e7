import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, StackValidationError } from '../../src/errors.js';
import { Keystack } from '../../src/stack/client.js';
import { registerComponent, updateComponent } from '../../src/stack/component-ops.js';
import type { ComponentFlavor } from '../../src/stack/components.js';
import {
  loadPipelineModule,
  pipeline,
  RunStore,
  runPipeline,
  step,
  StepFailedError,
  type StepContext,
  type WorkerLauncher,
} from '../../src/pipeline/index.js';

let ks: Keystack;
// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- ks is unset when beforeEach failed
afterEach(async () => ks?.close());

function fresh(): Keystack {
  ks = new Keystack({ configDir: mkdtempSync(join(tmpdir(), 'keystack-pipe-')), env: {} });
  return ks;
}

const statuses = (r: { steps: { stepId: string; status: string }[] }) =>
  Object.fromEntries(r.steps.map((s) => [s.stepId, s.status]));

describe('pipelines on the local orchestrator', () => {
  it('wires outputs to inputs, stores outputs in the artifact store, and records the run', async () => {
    fresh();
    const load = step({ name: 'load', run: async () => [1, 2, 3] });
    const scale = step({
      name: 'scale',
      run: async ({ xs, by }: { xs: number[]; by: number }) => xs.map((x) => x * by),
    });
    const total = step({
      name: 'total',
      run: async ({ a, b }: { a: number[]; b: number[] }) => [...a, ...b].reduce((s, x) => s + x, 0),
    });
    const p = pipeline('math', () => {
      const xs = load();
      const twice = scale({ xs, by: 2 });
      const thrice = scale({ xs, by: 3 });
      total({ a: twice, b: thrice });
    });
    const r = await runPipeline(ks, p);
    expect(r.outputs).toEqual({ load: [1, 2, 3], scale: [2, 4, 6], scale_2: [3, 6, 9], total: 30 });
    expect(r.run.status).toBe('completed');
    const files = readdirSync(join(ks.configDir, 'artifacts', r.run.id)).sort();
    expect(files).toEqual(['load.json', 'scale.json', 'scale_2.json', 'total.json']);
    expect(new RunStore(ks.store).listRuns().map((x) => x.id)).toEqual([r.run.id]);
  });

  it('caches: on by default, off for steps that take the context, explicit enableCache wins, changed inputs run again', async () => {
    fresh();
    const calls: Record<string, number> = {};
    const count = (n: string) => (calls[n] = (calls[n] ?? 0) + 1);
    let source = 1;
    const produce = step({ name: 'produce', enableCache: false, run: async () => (count('produce'), source) });
    const plain = step({ name: 'plain', run: async ({ x }: { x: number }) => (count('plain'), x + 1) });
    const withContext = step({
      name: 'with_context',
      run: async ({ x }: { x: number }, ctx: StepContext) => (count('with_context'), `${ctx.stepName}:${x}`),
    });
    const explicit = step({
      name: 'explicit',
      enableCache: true,
      run: async ({ x }: { x: number }, ctx: StepContext) => (count('explicit'), `${ctx.stepId}:${x}`),
    });
    const p = pipeline('caching', () => {
      const x = produce();
      plain({ x });
      withContext({ x });
      explicit({ x });
    });
    const first = await runPipeline(ks, p);
    expect(statuses(first)).toEqual({
      produce: 'completed',
      plain: 'completed',
      with_context: 'completed',
      explicit: 'completed',
    });
    expect(first.steps.map((s) => s.cacheEnabled)).toEqual([false, true, false, true]);
    const second = await runPipeline(ks, p);
    expect(statuses(second)).toEqual({
      produce: 'completed',
      plain: 'cached',
      with_context: 'completed',
      explicit: 'cached',
    });
    expect(second.outputs).toEqual(first.outputs);
    source = 2;
    const third = await runPipeline(ks, p);
    expect(statuses(third)).toEqual({
      produce: 'completed',
      plain: 'completed',
      with_context: 'completed',
      explicit: 'completed',
    });
    expect(third.outputs['plain']).toBe(3);
    expect(calls).toEqual({ produce: 3, plain: 2, with_context: 3, explicit: 2 });
    const noCache = await runPipeline(ks, p, { noCache: true });
    expect(statuses(noCache)['plain']).toBe('completed');
    const off = pipeline('caching', () => plain({ x: 5 }), { enableCache: false });
    await runPipeline(ks, off);
    expect(statuses(await runPipeline(ks, off))).toEqual({ plain: 'completed' });
  });

  it('keeps the cache index in the artifact store: another config store sharing the store directory gets the hits', async () => {
    const shared = mkdtempSync(join(tmpdir(), 'keystack-shared-artifacts-'));
    let calls = 0;
    const p = pipeline('shared', () => step({ name: 'calc', run: async () => (calls++, 7) })());
    const machine = () => {
      const k = new Keystack({ configDir: mkdtempSync(join(tmpdir(), 'keystack-pipe-')), env: {} });
      updateComponent(k, 'artifact_store', 'default', { path: shared });
      return k;
    };
    const a = machine();
    const b = machine();
    try {
      const first = await runPipeline(a, p);
      const second = await runPipeline(b, p);
      expect(second.steps.map((s) => [s.status, s.cachedFrom])).toEqual([['cached', first.run.id]]);
      expect(second.outputs).toEqual({ calc: 7 });
      expect(calls).toBe(1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('changes the cache key with the step code and the parameters', async () => {
    fresh();
    const a = step({ name: 's', run: async ({ n }: { n: number }) => n });
    const b = step({ name: 's', run: async ({ n }: { n: number }) => n * 1 });
    await runPipeline(
      ks,
      pipeline('k', () => a({ n: 1 })),
    );
    expect(
      statuses(
        await runPipeline(
          ks,
          pipeline('k', () => a({ n: 1 })),
        ),
      ),
    ).toEqual({ s: 'cached' });
    expect(
      statuses(
        await runPipeline(
          ks,
          pipeline('k', () => a({ n: 2 })),
        ),
      ),
    ).toEqual({ s: 'completed' });
    expect(
      statuses(
        await runPipeline(
          ks,
          pipeline('k', () => b({ n: 1 })),
        ),
      ),
    ).toEqual({ s: 'completed' });
  });

  it('stops at a failed step with an error that contains no secret value', async () => {
    fresh();
    await (await ks.secretsManager()).register('api', { token: 'tok-SECRET-123' });
    const leak = step({
      name: 'leak',
      secrets: ['api'],
      run: async (_i: Record<string, never>, ctx: StepContext) => {
        const t = (await ctx.stack.secretsManager.get('api')).values['token'];
        throw new Error(`login failed for token ${t}`);
      },
    });
    const after = step({ name: 'after', run: async ({ x }: { x: unknown }) => x });
    const err = await runPipeline(
      ks,
      pipeline('failing', () => after({ x: leak() })),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailedError);
    // The leak guard fails a step whose error carries a value, rather than store it masked.
    const stored =
      "secret_leak: step 'leak' would store the value of secret 'api' key 'token' in its error; nothing of the step was written";
    expect((err as Error).message).toBe(`step 'leak' failed: ${stored}`);
    const runs = new RunStore(ks.store);
    const run = runs.listRuns()[0]!;
    expect(run.status).toBe('failed');
    expect(runs.steps(run.id).map((s) => [s.stepId, s.status, s.error])).toEqual([
      ['leak', 'failed', stored],
      ['after', 'skipped', null],
    ]);
    expect(JSON.stringify(runs.steps(run.id))).not.toContain('tok-SECRET-123');
  });

  it('validates the stack before running, and encrypts artifacts with a key from a reference', async () => {
    fresh();
    updateComponent(ks, 'artifact_store', 'default', { encryption_key: '{{art.key}}' });
    const ran: string[] = [];
    const p = pipeline('enc', () =>
      step({ name: 'one', run: async () => (ran.push('one'), { secret: 'plain-output' }) })(),
    );
    const err = await runPipeline(ks, p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StackValidationError);
    expect((err as Error).message).toContain('{{art.key}}');
    expect(ran).toEqual([]);
    await (await ks.secretsManager()).register('art', { key: 'artifact-passphrase' });
    const r = await runPipeline(ks, p);
    expect(r.outputs['one']).toEqual({ secret: 'plain-output' });
    const raw = readFileSync(join(ks.configDir, 'artifacts', r.run.id, 'one.json'));
    expect(raw.subarray(0, 4).toString()).toBe('KSA2');
    expect(raw.toString('latin1')).not.toContain('plain-output');
  });

  it('rejects non-JSON outputs and steps called outside a pipeline', async () => {
    fresh();
    const bad = step({ name: 'bad', run: async () => new Map() });
    await expect(
      runPipeline(
        ks,
        pipeline('p', () => bad()),
      ),
    ).rejects.toThrow(/not JSON data \(a Map\)/);
    expect(() => bad()).toThrow(/outside a pipeline definition/);
  });
});

describe('pipelines on the local_process orchestrator', () => {
  // Step processes run the CLI from source through tsx, so this test does not need a build.
  const worker: WorkerLauncher = {
    command: process.execPath,
    args: ['--import', 'tsx', resolve('src/cli/bin.ts'), 'pipeline', '__step'],
  };
  const fixture = resolve('test/pipeline/fixtures/secret-pipeline.ts');

  it('reads a secret inside a child process that rebuilds the stack from the config store', async () => {
    fresh();
    registerComponent(ks, {
      type: 'orchestrator',
      name: 'proc',
      flavor: 'local_process',
      config: { timeout_seconds: '60' },
    });
    ks.registerStack('proc', { orchestrator: 'proc', artifact_store: 'default', secrets_manager: 'default' });
    ks.store.setActiveStack('proc');
    await (await ks.secretsManager()).register('api', { token: 'child-token-42' });
    const loaded = await loadPipelineModule(fixture);
    const r = await runPipeline(ks, loaded.pipeline, {
      module: { path: loaded.module, exportName: loaded.exportName },
      worker,
    });
    const info = r.outputs['read_token'] as { pid: number; length: number; stepName: string; runId: string };
    const summary = r.outputs['summarize'] as { pid: number; readerPid: number; tokenLength: number };
    expect(info).toMatchObject({ length: 'child-token-42'.length, stepName: 'read_token', runId: r.run.id });
    expect(info.pid).not.toBe(process.pid);
    expect(summary.pid).not.toBe(info.pid);
    expect(summary.tokenLength).toBe(14);
  });

  it('reports a failed child step without the secret it read', async () => {
    fresh();
    registerComponent(ks, { type: 'orchestrator', name: 'proc', flavor: 'local_process' });
    ks.updateStack('default', { orchestrator: 'proc' });
    await (await ks.secretsManager()).register('api', { token: 'child-token-42' });
    const loaded = await loadPipelineModule(fixture);
    const child = new Keystack({ configDir: ks.configDir, env: { ...process.env, FAIL_WITH_SECRET: '1' } });
    try {
      const err = await runPipeline(child, loaded.pipeline, {
        module: { path: loaded.module, exportName: loaded.exportName },
        worker,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StepFailedError);
      // The value in the error fails the step as a leak (it was masked before the leak guard).
      expect((err as StepFailedError).code).toBe('secret_leak');
      expect((err as Error).message).toBe(
        "step 'read_token' failed: secret_leak: step 'read_token' would store the value of secret 'api' key 'token' in its error; nothing of the step was written",
      );
    } finally {
      await child.close();
    }
  });
});

describe('component flavors declared without a run-time half', () => {
  const k8s: ComponentFlavor = { type: 'orchestrator', name: 'k8s', description: 'test orchestrator', config: {} };
  const gcs: ComponentFlavor = { type: 'artifact_store', name: 'gcs', description: 'test store', config: {} };
  const p = pipeline('one', () => step({ name: 'one', run: async () => 1 })());

  it('an orchestrator of such a flavor refuses to run, naming the ones that run here, and records no run', async () => {
    fresh();
    registerComponent(ks, { type: 'orchestrator', name: 'cluster', flavor: 'k8s' }, [k8s]);
    ks.updateStack('default', { orchestrator: 'cluster' });
    const err = await runPipeline(ks, p, { componentFlavors: [k8s] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(
      "this version of keystack cannot run pipelines on orchestrator flavor 'k8s'",
    );
    expect((err as ConfigError).hint).toBe('Use a stack with a local or local_process orchestrator.');
    expect(new RunStore(ks.store).listRuns()).toEqual([]);
  });

  it('an artifact store of such a flavor cannot be opened', async () => {
    fresh();
    registerComponent(ks, { type: 'artifact_store', name: 'bucket', flavor: 'gcs' }, [gcs]);
    ks.updateStack('default', { artifact_store: 'bucket' });
    const err = await runPipeline(ks, p, { componentFlavors: [gcs] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe("artifact-store flavor 'gcs' cannot be used by this version of keystack");
    expect((err as ConfigError).hint).toBe('Use an artifact store of flavor local or s3.');
  });
});
