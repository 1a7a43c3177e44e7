import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunStore } from '../../src/pipeline/run-store.js';
import { updateComponent } from '../../src/stack/component-ops.js';
import { cliEnv, codeRoot, REDIS_URL, runCli, startWorkerProcess, trustSomeWorker } from './harness.js';
import { inProcessWorker, queues, remoteTestScope } from './fixture.js';

const { workers, fixture } = remoteTestScope();
const TWO = `
import { pipeline, step } from '{{LIB}}';
const a = step({ name: 'a', run: async ({ n }) => n + 1 });
const b = step({ name: 'b', run: async ({ x }) => x * 10 });
export default pipeline('two', () => b({ x: a({ n: 4 }) }));
`;

const SLOW = (marks: string, ms: number) => `
import { appendFileSync } from 'node:fs';
import { pipeline, step } from '{{LIB}}';
const slow = step({ name: 'slow', enableCache: false, run: async () => {
  appendFileSync(${JSON.stringify(marks)}, 'start\\n');
  await new Promise((r) => setTimeout(r, ${ms}));
  return 'done';
} });
const after = step({ name: 'after', run: async ({ s }) => s + '!' });
export default pipeline('slow', () => after({ s: slow() }));
`;

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('detached runs', () => {
  it('--detach returns once enqueued; runs list and runs describe show the live state from Redis', async () => {
    const f = await fixture();
    const root = codeRoot({ 'two.mjs': TWO });
    const env = cliEnv(f.configDir, f.clientEnv);
    trustSomeWorker(f.configDir); // the worker that runs it is trusted later, while the run waits
    const r = await runCli(['pipeline', 'run', 'two.mjs', '--detach'], env, root);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /Pipeline 'two' enqueued \(run [0-9a-f-]{36}\); follow it with `keystack pipeline runs describe [0-9a-f]{8}`/,
    );
    const runId = /run ([0-9a-f-]{36})/.exec(r.stdout)?.[1] ?? '';

    // The job a worker will take: the payload and nothing else, references as text.
    const { Redis } = await import('ioredis');
    const redis = new Redis(REDIS_URL());
    const raw = await redis.hget(`keystack:${queues(f).main}:${runId}__a`, 'data');
    redis.disconnect();
    const job = JSON.parse(raw ?? '{}') as Record<string, unknown> & {
      stack: { components: { type: string; config: Record<string, unknown> }[] };
      job: { p: string; k: string; s: string };
    };
    expect(Object.keys(job).sort()).toEqual(['job', 'runId', 'stack', 'stepId', 'v']);
    // The signed envelope: what the worker acts on.
    expect(Object.keys(job.job).sort()).toEqual(['k', 'p', 's']);
    const envelope = JSON.parse(job.job.p) as Record<string, unknown>;
    expect(envelope['module']).toEqual({
      path: 'two.mjs',
      exportName: 'default',
      sha256: createHash('sha256')
        .update(readFileSync(join(root, 'two.mjs')))
        .digest('hex'),
    });
    expect(envelope['step']).toEqual({ id: 'a', name: 'a', params: { n: 4 } });
    expect(envelope['runId']).toBe(runId);
    const byType = Object.fromEntries(job.stack.components.map((c) => [c.type, c.config]));
    expect(byType['orchestrator']?.['redis_url']).toBe('{{redis.url}}');
    expect(byType['artifact_store']?.['encryption_key']).toBe('{{store.key}}');
    expect(byType['step_operator']?.['redis_url']).toBe('{{redis.url}}');
    expect(Object.keys(byType).sort()).toEqual(['artifact_store', 'orchestrator', 'secrets_manager', 'step_operator']);

    const list = await runCli(['--json', 'pipeline', 'runs', 'list'], env, root);
    expect(
      (JSON.parse(list.stdout) as { runs: { id: string; status: string }[] }).runs.find((x) => x.id === runId)?.status,
    ).toBe('running');
    // The client that started it has exited; the run is not taken for interrupted.
    const before = await runCli(['--json', 'pipeline', 'runs', 'describe', runId], env, root);
    const b = JSON.parse(before.stdout) as { run: { status: string }; steps: { step: string; status: string }[] };
    expect(b.run.status).toBe('running');
    expect(b.steps.map((s) => s.status)).toEqual(['pending', 'pending']);

    workers.push(
      await startWorkerProcess({
        name: 'late',
        client: f.configDir,
        queues: [queues(f).main],
        codeRoot: codeRoot({ 'two.mjs': TWO }),
        env: { VAULT_TOKEN: f.tokens.cpu },
      }),
    );
    let last: { run: { status: string }; steps: { step: string; status: string; worker: string | null }[] } | undefined;
    await until('the detached run to complete', async () => {
      const d = await runCli(['--json', 'pipeline', 'runs', 'describe', runId.slice(0, 8)], env, root);
      last = JSON.parse(d.stdout) as typeof last;
      return last?.run.status === 'completed';
    });
    expect(last?.steps.map((s) => [s.step, s.status, s.worker])).toEqual([
      ['a', 'completed', 'late'],
      ['b', 'completed', 'late'],
    ]);
    const text = await runCli(['pipeline', 'runs', 'describe', runId], env, root);
    expect(text.stdout).toMatch(/STEP\s+STATUS\s+DURATION\s+CACHE\s+WORKER/);
  }, 60_000);
});

describe('from the library', () => {
  it('startWorker and runPipeline run a remote pipeline in one process', async () => {
    const f = await fixture();
    const root = codeRoot({ 'two.mjs': TWO });
    const { loadPipelineModule, runPipeline } = await import('../../src/index.js');
    const lines: string[] = [];
    const w = await inProcessWorker(f, root, 'lib', { onLog: (l) => lines.push(l) });
    try {
      const loaded = await loadPipelineModule('two.mjs', undefined, root);
      const r = await runPipeline(f.ks, loaded.pipeline, {
        module: { path: loaded.module, exportName: loaded.exportName },
        codeRoot: root,
      });
      expect(r.outputs).toEqual({ a: 5, b: 50 });
      expect(r.steps.map((s) => s.worker)).toEqual(['lib', 'lib']);
      expect(lines.some((l) => l.includes('b: completed'))).toBe(true);
    } finally {
      await w.close();
    }
  }, 60_000);
});

describe('workers', () => {
  it('SIGTERM: the worker finishes the step it is running, then exits 0; the run goes on elsewhere', async () => {
    const f = await fixture();
    const marks = join(mkdtempSync(join(tmpdir(), 'keystack-marks-')), 'marks');
    const src = SLOW(marks, 1500);
    const root = codeRoot({ 'slow.mjs': src });
    const a = await startWorkerProcess({
      name: 'leaving',
      client: f.configDir,
      queues: [queues(f).main],
      codeRoot: root,
      env: { VAULT_TOKEN: f.tokens.cpu },
    });
    workers.push(a);
    const run = runCli(['pipeline', 'run', 'slow.mjs'], cliEnv(f.configDir, f.clientEnv), root);
    await until('the step to start', () => existsSync(marks));
    a.proc.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(a.log()).toContain('slow: completed');
    expect(a.log()).toContain('Worker leaving stopped (SIGTERM) after 1 step.');
    workers.push(
      await startWorkerProcess({
        name: 'next',
        client: f.configDir,
        queues: [queues(f).main],
        codeRoot: root,
        env: { VAULT_TOKEN: f.tokens.cpu },
      }),
    );
    const r = await run;
    expect(r.status).toBe(0);
    expect(readFileSync(marks, 'utf8')).toBe('start\n'); // run once: finished, not handed back
    const steps = new RunStore(f.ks.store).steps(new RunStore(f.ks.store).listRuns(1)[0]?.id ?? '');
    expect(steps.map((s) => [s.stepId, s.worker])).toEqual([
      ['slow', 'leaving'],
      ['after', 'next'],
    ]);
  }, 60_000);

  it('step_timeout_seconds fails a step that runs too long', async () => {
    const f = await fixture({ attempts: 1, timeoutSeconds: 1 });
    const marks = join(mkdtempSync(join(tmpdir(), 'keystack-marks-')), 'marks');
    const root = codeRoot({ 'slow.mjs': SLOW(marks, 4000) });
    workers.push(
      await startWorkerProcess({
        name: 'w',
        client: f.configDir,
        queues: [queues(f).main],
        codeRoot: root,
        env: { VAULT_TOKEN: f.tokens.cpu },
      }),
    );
    const r = await runCli(['pipeline', 'run', 'slow.mjs'], cliEnv(f.configDir, f.clientEnv), root);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("step 'slow' failed: Error: timed out after 1 s (step_timeout_seconds)");
    const steps = new RunStore(f.ks.store).steps(new RunStore(f.ks.store).listRuns(1)[0]?.id ?? '');
    expect(steps.map((s) => s.status)).toEqual(['failed', 'skipped']);
  }, 60_000);

  it('a plain credential in a sensitive field is refused rather than sent through Redis', async () => {
    const f = await fixture();
    updateComponent(f.ks, 'artifact_store', 's3', { encryption_key: 'a-plain-passphrase-here' });
    const root = codeRoot({ 'two.mjs': TWO });
    const r = await runCli(['pipeline', 'run', 'two.mjs', '--detach'], cliEnv(f.configDir, f.clientEnv), root);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      "field 'encryption_key' of artifact-store 's3' holds a plain credential, which a remote run would send through Redis",
    );
    expect(r.stderr).not.toContain('a-plain-passphrase-here');
    expect(new RunStore(f.ks.store).listRuns(1)).toEqual([]);
  }, 60_000);
});
