import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunStore } from '../../src/pipeline/run-store.js';
import { cliEnv, codeRoot, listObjects, runCli, startWorkerProcess, type WorkerProcess } from './harness.js';
import { queues, remoteFixture, type RemoteFixture } from './fixture.js';

const workers: WorkerProcess[] = [];
let f: RemoteFixture | undefined;
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await f?.ks.close();
});

// The step notes each start in a file (outside Redis and the artifact store), then works a while.
const SLOW = (marks: string) => `
import { appendFileSync } from 'node:fs';
import { pipeline, step } from '{{LIB}}';
const prepare = step({ name: 'prepare', run: async () => 21 });
const slow = step({ name: 'slow', enableCache: false, run: async ({ x }) => {
  appendFileSync(${JSON.stringify(marks)}, 'start\\n');
  await new Promise((r) => setTimeout(r, 2500));
  return x * 2;
} });
const finish = step({ name: 'finish', run: async ({ y }) => ({ answer: y }) });
export default pipeline('slow', () => finish({ y: slow({ x: prepare() }) }));
`;

// Short locks, so that BullMQ's stalled-job check takes the job back within seconds.
const LOCKS = { KEYSTACK_WORKER_LOCK_MS: '1500', KEYSTACK_WORKER_STALLED_INTERVAL_MS: '500' };

describe('a worker killed in the middle of a step', () => {
  it('another worker takes the step back after stalled-job detection; the run completes and each output is written once', async () => {
    f = await remoteFixture();
    const q = queues(f);
    const marks = join(mkdtempSync(join(tmpdir(), 'keystack-marks-')), 'marks');
    const root = codeRoot({ 'slow.mjs': SLOW(marks) });
    const doomed = await startWorkerProcess({
      name: 'doomed',
      client: f.configDir,
      queues: [q.main],
      codeRoot: root,
      env: { VAULT_TOKEN: f.tokens.cpu, ...LOCKS },
    });
    workers.push(doomed);
    const run = runCli(['pipeline', 'run', 'slow.mjs'], cliEnv(f.configDir, f.clientEnv), root);
    // Generous: the step starts in a step child, which a loaded machine starts slowly.
    for (let i = 0; i < 1200 && !existsSync(marks); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(marks)).toBe(true);
    doomed.proc.kill('SIGKILL');
    expect(await doomed.exited).toBe('SIGKILL');
    workers.push(
      await startWorkerProcess({
        name: 'rescuer',
        client: f.configDir,
        queues: [q.main],
        codeRoot: codeRoot({ 'slow.mjs': SLOW(marks) }),
        env: { VAULT_TOKEN: f.tokens.cpu, ...LOCKS },
      }),
    );
    const r = await run;
    expect(r.stderr).toContain('✓ finish: completed');
    expect(r.status).toBe(0);
    // The step started twice (once on each worker) and its output exists once.
    expect(readFileSync(marks, 'utf8')).toBe('start\nstart\n');
    const runs = new RunStore(f.ks.store);
    const [rec] = runs.listRuns(1);
    const steps = Object.fromEntries(runs.steps(rec?.id ?? '').map((s) => [s.stepId, s]));
    expect(steps['slow']?.worker).toBe('rescuer');
    // prepare ran before the kill, normally on doomed. On a starved machine doomed can miss its
    // 1.5 s lock renewal, BullMQ takes the finished job back, and rescuer runs it again: both are
    // at-least-once delivery, and what matters here is that it completed once in the record.
    expect(steps['prepare']?.status).toBe('completed');
    expect(['doomed', 'rescuer']).toContain(steps['prepare']?.worker);
    const objects = await listObjects(f.bucket, `runs/${rec?.id ?? ''}/`);
    expect(objects).toEqual([
      `runs/${rec?.id ?? ''}/finish.json`,
      `runs/${rec?.id ?? ''}/prepare.json`,
      `runs/${rec?.id ?? ''}/slow.json`,
    ]);
    const { openArtifactStore } = await import('../../src/pipeline/artifacts.js');
    const { StackRuntime } = await import('../../src/stack/runtime.js');
    const stack = await StackRuntime.load(f.ks, { stack: 'remote' });
    const store = await openArtifactStore(stack.artifactStore, { configDir: f.configDir, env: f.clientEnv });
    expect(await store.read(steps['finish']?.output?.uri ?? '')).toEqual({ answer: 42 });
  }, 90_000);
});
