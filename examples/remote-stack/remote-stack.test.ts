/**
 * The README's walk-through, run: two workers with different credentials (one serving the `gpu`
 * step operator's queue), a vault secrets manager and an s3 artifact store whose credentials come
 * from authentication_secret, and the example pipeline run from the code root with the CLI.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { RunStore } from '../../src/pipeline/run-store.js';
import { cliEnv, readOnlyToken, runCli, startWorkerProcess, type WorkerProcess } from '../../test/remote/harness.js';
import { queues, remoteFixture, type RemoteFixture } from '../../test/remote/fixture.js';

const workers: WorkerProcess[] = [];
let f: RemoteFixture | undefined;
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await f?.ks.close();
});

describe('examples/remote-stack', () => {
  it('runs the example pipeline on a CPU worker and a GPU worker, each reading only its own secret', async () => {
    const fx = await remoteFixture({ gpuQueue: 'gpu' });
    f = fx;
    const sm = await fx.ks.secretsManager('vault');
    await sm.register('data_api', { token: 'example-data-api-token' });
    await sm.register('gpu_license', { key: 'example-gpu-licence-key' });
    const path = (n: string) => `${fx.prefix}/global/${n}`;
    const cpuToken = await readOnlyToken(`${fx.prefix}-ex-cpu`, [path('store'), path('s3creds'), path('data_api')]);
    const gpuToken = await readOnlyToken(`${fx.prefix}-ex-gpu`, [path('store'), path('s3creds'), path('gpu_license')]);
    const repo = resolve('.');
    workers.push(
      await startWorkerProcess({
        name: 'cpu-box',
        client: fx.configDir,
        queues: [queues(fx).main],
        codeRoot: repo,
        env: { VAULT_TOKEN: cpuToken },
      }),
    );
    workers.push(
      await startWorkerProcess({
        name: 'gpu-box',
        client: fx.configDir,
        queues: ['gpu'],
        codeRoot: repo,
        env: { VAULT_TOKEN: gpuToken },
      }),
    );
    const r = await runCli(
      ['pipeline', 'run', 'examples/remote-stack/pipeline.ts'],
      cliEnv(fx.configDir, fx.clientEnv),
      repo,
    );
    expect(r.stderr).toContain('✓ evaluate: completed');
    expect(r.status).toBe(0);
    const runs = new RunStore(fx.ks.store);
    const run = runs.listRuns(1)[0];
    const steps = runs.steps(run?.id ?? '');
    expect(steps.map((s) => [s.stepId, s.worker])).toEqual([
      ['fetch_data', 'cpu-box'],
      ['features', 'cpu-box'],
      ['embed', 'gpu-box'],
      ['train', 'cpu-box'],
      ['evaluate', 'cpu-box'],
    ]);
    const { openArtifactStore } = await import('../../src/pipeline/artifacts.js');
    const { StackRuntime } = await import('../../src/stack/runtime.js');
    const stack = await StackRuntime.load(fx.ks, { stack: 'remote' });
    const store = await openArtifactStore(stack.artifactStore, { configDir: fx.configDir, env: fx.clientEnv });
    expect(await store.read(steps.find((s) => s.stepId === 'train')?.output?.uri ?? '')).toEqual({
      a: 3,
      b: 1,
      embeddingDims: 20,
    });
    expect(await store.read(steps.find((s) => s.stepId === 'evaluate')?.output?.uri ?? '')).toEqual({
      meanAbsError: 0,
    });
  }, 120_000);
});
