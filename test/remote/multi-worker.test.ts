import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { requireEnv } from '../support/fake-http.js';
import { RunStore } from '../../src/pipeline/run-store.js';
import {
  cliEnv,
  codeRoot,
  dumpRedis,
  forms,
  listObjects,
  readOnlyToken,
  REDIS_URL,
  runCli,
  startWorkerProcess,
  type WorkerProcess,
} from './harness.js';
import { DEMO_PIPELINE, queues, remoteFixture, type RemoteFixture } from './fixture.js';

const AUDIT = requireEnv('KEYSTACK_BAO_AUDIT_LOG', "OpenBao's audit log (scripts/emulators/start.sh declares it)");
const workers: WorkerProcess[] = [];
let f: RemoteFixture | undefined;
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await f?.ks.close();
});

describe('a remote run on three workers', () => {
  it('runs fan-out and fan-in across workers with their own credentials, records the worker per step, and leaves no secret in Redis', async () => {
    const fx = await remoteFixture();
    f = fx;
    const q = queues(fx);
    const root = codeRoot({ 'pipelines/demo.mjs': DEMO_PIPELINE });
    // Each worker has its own config dir, code root (same content) and credentials.
    const rootB = codeRoot({ 'pipelines/demo.mjs': DEMO_PIPELINE });
    const rootGpu = codeRoot({ 'pipelines/demo.mjs': DEMO_PIPELINE });
    workers.push(
      await startWorkerProcess({
        name: 'cpu1',
        client: fx.configDir,
        queues: [q.main],
        codeRoot: root,
        env: { VAULT_TOKEN: fx.tokens.cpu },
      }),
    );
    // cpu2 has a token of its own (same policy), so that OpenBao's audit log tells the workers apart.
    const path = (n: string) => `${fx.prefix}/global/${n}`;
    const cpu2Token = await readOnlyToken(`${fx.prefix}-cpu2`, [path('store'), path('s3creds'), path('cpu_creds')]);
    workers.push(
      await startWorkerProcess({
        name: 'cpu2',
        client: fx.configDir,
        queues: [q.main],
        codeRoot: rootB,
        env: { VAULT_TOKEN: cpu2Token },
      }),
    );
    const auditStart = existsSync(AUDIT) ? readFileSync(AUDIT, 'utf8').length : 0;
    workers.push(
      await startWorkerProcess({
        name: 'gpu1',
        client: fx.configDir,
        queues: [q.gpu],
        codeRoot: rootGpu,
        env: { VAULT_TOKEN: fx.tokens.gpu },
      }),
    );

    const r = await runCli(['pipeline', 'run', 'pipelines/demo.mjs'], cliEnv(fx.configDir, fx.clientEnv), root);
    expect(r.stderr).toContain('✓ report: completed');
    expect(r.status).toBe(0);
    // Progress names the worker of each step; the gpu step ran on the gpu worker.
    expect(r.stderr).toMatch(/✓ embed: completed in .* on gpu1/);
    expect(r.stderr).toMatch(/✓ train: completed in .* on cpu[12]/);

    // Each secret read at most once per worker in the run, counted by OpenBao itself.
    const reads = new Map<string, number>();
    for (const line of readFileSync(AUDIT, 'utf8').slice(auditStart).split('\n').filter(Boolean)) {
      const e = JSON.parse(line) as {
        type: string;
        auth?: { policies?: string[] };
        request?: { operation?: string; path?: string };
      };
      if (
        e.type !== 'request' ||
        e.request?.operation !== 'read' ||
        !e.request.path?.startsWith(`secret/data/${fx.prefix}/`)
      )
        continue;
      const who = (e.auth?.policies ?? []).find((p) => p.startsWith(`${fx.prefix}-`)) ?? 'root';
      const k = `${who} ${e.request.path.split('/').pop() ?? ''}`;
      reads.set(k, (reads.get(k) ?? 0) + 1);
    }
    const workerReads = [...reads].filter(([k]) => !k.startsWith('root '));
    expect(workerReads.length).toBeGreaterThan(0);
    for (const [k, n] of workerReads) expect([k, n]).toEqual([k, 1]);
    // The gpu worker read its secret and the cpu workers' train step read theirs; neither read the other's.
    expect(reads.get(`${fx.prefix}-gpu gpu_creds`)).toBe(1);
    expect(workerReads.some(([k]) => k.endsWith(' cpu_creds'))).toBe(true);
    expect(workerReads.some(([k]) => k.startsWith(`${fx.prefix}-gpu `) && k.endsWith(' cpu_creds'))).toBe(false);

    const runs = new RunStore(fx.ks.store);
    const [run] = runs.listRuns(1);
    expect(run?.status).toBe('completed');
    const steps = runs.steps(run?.id ?? '');
    expect(steps.map((s) => [s.stepId, s.status])).toEqual([
      ['load', 'completed'],
      ['square', 'completed'],
      ['cube', 'completed'],
      ['embed', 'completed'],
      ['join', 'completed'],
      ['train', 'completed'],
      ['report', 'completed'],
    ]);
    const byStep = Object.fromEntries(steps.map((s) => [s.stepId, s.worker]));
    expect(byStep['embed']).toBe('gpu1');
    for (const id of ['load', 'square', 'cube', 'join', 'train', 'report'])
      expect(['cpu1', 'cpu2']).toContain(byStep[id]);

    // Results, read back through the client's own artifact store (s3, encrypted).
    const describe_ = await runCli(
      ['--json', 'pipeline', 'runs', 'describe', run?.id ?? ''],
      cliEnv(fx.configDir, fx.clientEnv),
      root,
    );
    expect(describe_.status).toBe(0);
    const described = JSON.parse(describe_.stdout) as { steps: { step: string; worker: string | null }[] };
    expect(described.steps.find((s) => s.step === 'embed')?.worker).toBe('gpu1');
    const { openArtifactStore } = await import('../../src/pipeline/artifacts.js');
    const { StackRuntime } = await import('../../src/stack/runtime.js');
    const stack = await StackRuntime.load(fx.ks, { stack: 'remote' });
    const store = await openArtifactStore(stack.artifactStore, { configDir: fx.configDir, env: fx.clientEnv });
    const out = async (id: string) => store.read(steps.find((s) => s.stepId === id)?.output?.uri ?? '');
    expect(await out('join')).toEqual({ sum: 130, dims: 8 });
    expect(await out('embed')).toEqual({ dims: 8, tokenOk: true });
    expect(await out('train')).toEqual({ model: 1040, tokenOk: true });
    expect(await out('report')).toBe('model=1040');
    // One object per step: nothing written twice under another name.
    const objects = (await listObjects(fx.bucket, `runs/${run?.id ?? ''}/`)).filter((k) => !k.includes('/cache/'));
    expect(objects).toHaveLength(7);

    // Nothing in Redis: every key with its value, and no secret in any form.
    const dump = await dumpRedis(REDIS_URL());
    expect(dump).toContain(run?.id);
    expect(dump).toContain('{{redis.url}}'); // references travel as text
    for (const v of [
      fx.secrets.cpu,
      fx.secrets.gpu,
      fx.secrets.storeKey,
      fx.secrets.redisPassword,
      fx.tokens.cpu,
      fx.tokens.gpu,
    ]) {
      for (const form of forms(v)) expect(dump).not.toContain(form);
    }
    // Nor in what the client and the workers printed.
    for (const text of [r.stdout, r.stderr, ...workers.map((w) => w.log())]) {
      for (const v of [fx.secrets.cpu, fx.secrets.gpu, fx.secrets.storeKey, fx.secrets.redisPassword])
        expect(text).not.toContain(v);
    }

    // A cached re-run on other workers: the steps without context come from the cache kept in
    // the artifact store; the steps that read secrets run again.
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    workers.push(
      await startWorkerProcess({
        name: 'cpu3',
        client: fx.configDir,
        queues: [q.main],
        codeRoot: codeRoot({ 'pipelines/demo.mjs': DEMO_PIPELINE }),
        env: { VAULT_TOKEN: fx.tokens.cpu },
      }),
    );
    workers.push(
      await startWorkerProcess({
        name: 'gpu2',
        client: fx.configDir,
        queues: [q.gpu],
        codeRoot: codeRoot({ 'pipelines/demo.mjs': DEMO_PIPELINE }),
        env: { VAULT_TOKEN: fx.tokens.gpu },
      }),
    );
    const again = await runCli(['pipeline', 'run', 'pipelines/demo.mjs'], cliEnv(fx.configDir, fx.clientEnv), root);
    expect(again.status).toBe(0);
    const [second] = runs.listRuns(1);
    expect(second?.id).not.toBe(run?.id);
    const st = runs.steps(second?.id ?? '');
    expect(Object.fromEntries(st.map((s) => [s.stepId, s.status]))).toEqual({
      load: 'cached',
      square: 'cached',
      cube: 'cached',
      embed: 'completed',
      join: 'cached',
      train: 'completed',
      report: 'cached',
    });
    expect(st.find((s) => s.stepId === 'load')?.cachedFrom).toBe(run?.id);
    expect(st.find((s) => s.stepId === 'embed')?.worker).toBe('gpu2');
    expect(st.find((s) => s.stepId === 'train')?.worker).toBe('cpu3');
  }, 180_000);
});
