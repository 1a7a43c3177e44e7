/**
 * Remote-stack figures (run by `npm run bench` inside the loopback-only namespace, against the
 * test Redis, OpenBao and moto): scheduling overhead per step on warm bullmq workers against
 * local_process's in the same run, throughput with 1, 2 and 4 workers, and secret reads counted
 * in OpenBao's audit log for a three-worker run. Prints markdown.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Keystack } from '../src/stack/client.js';
import { registerComponent } from '../src/stack/component-ops.js';
import { loadPipelineModule, runPipeline } from '../src/pipeline/index.js';
import { codeRoot, startWorkerProcess, readOnlyToken, type WorkerProcess } from '../test/remote/harness.js';
import { DEMO_PIPELINE, queues, remoteFixture } from '../test/remote/fixture.js';

const CHAIN = 20;
const WIDE = 50;
const chainModule = `
import { pipeline, step } from '{{LIB}}';
const inc = step({ name: 'inc', enableCache: false, run: async ({ x }) => x + 1 });
export default pipeline('chain', () => { let v = inc({ x: 0 }); for (let i = 1; i < ${CHAIN}; i++) v = inc({ x: v }); });
`;
const wideModule = `
import { pipeline, step } from '{{LIB}}';
const one = step({ name: 'one', enableCache: false, run: async ({ i }) => i * 2 });
export default pipeline('wide', () => { for (let i = 0; i < ${WIDE}; i++) one({ i }); });
`;

const root = codeRoot({ 'chain.mjs': chainModule, 'wide.mjs': wideModule, 'demo.mjs': DEMO_PIPELINE });
const cli = resolve('dist/cli.cjs');

async function timedRun(ks: Keystack, file: string, stack: string): Promise<{ wall: number; workerMs: number }> {
  const loaded = await loadPipelineModule(join(root, file));
  const t = performance.now();
  const r = await runPipeline(ks, loaded.pipeline, {
    stack,
    module: { path: loaded.module, exportName: loaded.exportName },
    codeRoot: root,
    worker: { command: process.execPath, args: [cli, 'pipeline', '__step'] },
  });
  const wall = performance.now() - t;
  if (r.run.status !== 'completed') throw new Error(`run ${r.run.id} ${r.run.status}`);
  return { wall, workerMs: r.steps.reduce((s, x) => s + (x.durationMs ?? 0), 0) };
}

// --- local_process baseline
const localKs = new Keystack({
  configDir: mkdtempSync(join(tmpdir(), 'ks-bench-lp-')),
  env: { KEYSTACK_LOCAL_KEY: Buffer.alloc(32, 7).toString('base64') },
});
const lp = registerComponent(localKs, { type: 'orchestrator', name: 'lp', flavor: 'local_process', config: {} }).record;
const st = localKs.store.getStack('default');
localKs.store.addStack('lp', { ...st.components, orchestrator: lp.uuid });
const local = await timedRun(localKs, 'chain.mjs', 'lp');
await localKs.close();

// --- bullmq on warm workers
const f = await remoteFixture({ attempts: 1 });
const q = queues(f);
const workers: WorkerProcess[] = [];
const start = async (n: number) => {
  while (workers.length < n)
    workers.push(
      await startWorkerProcess({
        name: `bw${workers.length + 1}`,
        client: f.configDir,
        queues: [q.main, q.gpu],
        codeRoot: root,
        env: { VAULT_TOKEN: f.tokens.cpu },
      }),
    );
};
await start(1);
await timedRun(f.ks, 'chain.mjs', 'remote'); // warm: module loaded, connections open
const remote = await timedRun(f.ks, 'chain.mjs', 'remote');
const perLocal = local.wall / CHAIN;
const perRemote = remote.wall / CHAIN;

console.log(`\n## Remote stacks: scheduling overhead (chain of ${CHAIN} trivial steps; step bodies are x + 1)\n`);
console.log('| orchestrator | run wall ms | per step ms | × local_process |\n|---|---:|---:|---:|');
console.log(`| local_process (a process per step) | ${local.wall.toFixed(0)} | ${perLocal.toFixed(1)} | 1.00 |`);
console.log(
  `| bullmq, 1 warm worker (s3 on moto, vault on OpenBao) | ${remote.wall.toFixed(0)} | ${perRemote.toFixed(1)} | ${(perRemote / perLocal).toFixed(3)} |`,
);
console.log(
  `\nOf the bullmq per-step time, ${(remote.workerMs / CHAIN).toFixed(1)} ms is inside the worker (state, artifact read and write on S3); ` +
    `${((remote.wall - remote.workerMs) / CHAIN).toFixed(1)} ms is queueing and scheduling ((wall − Σ worker step durations) / steps).`,
);

// --- the cost of signing and checking, per step, against the scheduling overhead measured above
{
  const { ownKey } = await import('../src/pipeline/remote/keys.js');
  const { keyring, parsePublicKey } = await import('../src/support/signing.js');
  const { checkSnapshot, openJob, openResult, signJob, signResult, snapshotHash, stepOutputUri } = await import(
    '../src/pipeline/remote/envelope.js'
  );
  const { stackSnapshot } = await import('../src/pipeline/remote/orchestrator.js');
  const { StackRuntime } = await import('../src/stack/runtime.js');
  const snap = stackSnapshot(f.ks, await StackRuntime.load(f.ks, { stack: 'remote' }));
  const dir = mkdtempSync(join(tmpdir(), 'ks-bench-keys-'));
  const client = ownKey(dir, 'client');
  const worker = ownKey(dir, 'worker');
  const clients = keyring([parsePublicKey(client.text, 'bench')]);
  const workersRing = keyring([parsePublicKey(worker.text, 'bench')]);
  const runId = '0b6f1b2e-6a43-4c0e-9a55-0d6c1f3e2a10';
  const envelope = {
    runId,
    pipeline: 'chain',
    snapshotHash: snapshotHash(snap),
    module: { path: 'chain.mjs', exportName: 'default', sha256: 'ab'.repeat(32) },
    step: { id: 'inc_7', name: 'inc', params: {} },
    inputs: { x: stepOutputUri(runId, 'inc_6') },
    queue: q.main,
    attempts: 3,
    deadline: Date.now() + 3.6e6,
    noCache: false,
  };
  const result = {
    runId,
    stepId: 'inc_7',
    status: 'completed' as const,
    worker: 'bw1',
    attempts: 1,
    durationMs: 3.2,
    startedAt: new Date().toISOString(),
    output: { uri: stepOutputUri(runId, 'inc_7'), hash: 'ab'.repeat(32) },
    cacheKey: 'cd'.repeat(32),
    inputs: { x: { uri: stepOutputUri(runId, 'inc_6'), hash: 'ef'.repeat(32) } },
  };
  const N = 2000;
  const cpu = (fn: () => void): number => {
    for (let i = 0; i < 50; i++) fn();
    const t = process.cpuUsage();
    for (let i = 0; i < N; i++) fn();
    const d = process.cpuUsage(t);
    return (d.user + d.system) / 1000 / N;
  };
  const job = signJob(client, envelope);
  const res = signResult(worker, result);
  const ms = {
    signJob: cpu(() => signJob(client, envelope)),
    openJob: cpu(() => openJob(job, clients)),
    checkSnapshot: cpu(() => checkSnapshot(envelope, snap)),
    signResult: cpu(() => signResult(worker, result)),
    openResult: cpu(() => openResult(res, runId, 'inc_7', workersRing)),
  };
  // Per step: the client signs its envelope once; the worker checks it (the snapshot's hash once
  // per run, not per step) and signs two states (running, completed); the client following the
  // run checks the final state (it skips states that claim to be running).
  const perStep = ms.signJob + ms.openJob + ms.checkSnapshot / CHAIN + 2 * ms.signResult + ms.openResult;
  const overhead = (remote.wall - remote.workerMs) / CHAIN;
  console.log('\n## Remote trust: signing and checking per step (CPU, Ed25519 from node:crypto)\n');
  console.log('| operation | CPU ms each | per step |\n|---|---:|---:|');
  console.log(`| client signs the step's envelope | ${ms.signJob.toFixed(3)} | 1 |`);
  console.log(`| worker checks it (signature, shape, deadline) | ${ms.openJob.toFixed(3)} | 1 |`);
  console.log(`| worker checks the snapshot's hash | ${ms.checkSnapshot.toFixed(3)} | 1/${CHAIN} (once per run) |`);
  console.log(`| worker signs a state | ${ms.signResult.toFixed(3)} | 2 |`);
  console.log(`| client checks the final state | ${ms.openResult.toFixed(3)} | 1 |`);
  console.log(
    `\nTotal ${perStep.toFixed(3)} ms of CPU per step, against ${overhead.toFixed(1)} ms of scheduling overhead per step in this run: ` +
      `${((perStep / overhead) * 100).toFixed(2)}% (target < 2%).`,
  );
}

// --- throughput
console.log(`\n## Remote stacks: throughput (${WIDE} independent trivial steps)\n`);
console.log('| workers | run wall ms | steps/s |\n|---:|---:|---:|');
for (const n of [1, 2, 4]) {
  await start(n);
  const r = await timedRun(f.ks, 'wide.mjs', 'remote');
  console.log(`| ${n} | ${r.wall.toFixed(0)} | ${(WIDE / (r.wall / 1000)).toFixed(1)} |`);
}
await Promise.all(workers.splice(0).map((w) => w.stop()));

// --- secret reads per worker per run, from OpenBao's audit log
const audit = process.env['KEYSTACK_BAO_AUDIT_LOG'];
if (!audit || !existsSync(audit)) {
  console.log('\n(secret reads: no OpenBao audit log (KEYSTACK_BAO_AUDIT_LOG); not measured)');
} else {
  const path = (n: string) => `${f.prefix}/global/${n}`;
  const tokens = {
    cpu1: await readOnlyToken(`${f.prefix}-b1`, [path('store'), path('s3creds'), path('cpu_creds')]),
    cpu2: await readOnlyToken(`${f.prefix}-b2`, [path('store'), path('s3creds'), path('cpu_creds')]),
    gpu1: await readOnlyToken(`${f.prefix}-b3`, [path('store'), path('s3creds'), path('gpu_creds')]),
  };
  for (const [name, token] of Object.entries(tokens)) {
    workers.push(
      await startWorkerProcess({
        name,
        client: f.configDir,
        queues: [name.startsWith('gpu') ? q.gpu : q.main],
        codeRoot: root,
        env: { VAULT_TOKEN: token },
      }),
    );
  }
  const before = readFileSync(audit, 'utf8').length;
  await timedRun(f.ks, 'demo.mjs', 'remote');
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  const lines = readFileSync(audit, 'utf8').slice(before).split('\n').filter(Boolean);
  const byAccessor = new Map<string, string>();
  const counts = new Map<string, Map<string, number>>();
  for (const l of lines) {
    const e = JSON.parse(l) as {
      type: string;
      auth?: { accessor?: string; policies?: string[] };
      request?: { operation?: string; path?: string };
    };
    if (
      e.type !== 'request' ||
      e.request?.operation !== 'read' ||
      !e.request.path?.startsWith(`secret/data/${f.prefix}/global/`)
    )
      continue;
    const who = (e.auth?.policies ?? []).find((p) => p.startsWith(`${f.prefix}-b`)) ?? 'client (root token)';
    byAccessor.set(e.auth?.accessor ?? '?', who);
    const secret = e.request.path.slice(`secret/data/${f.prefix}/global/`.length);
    const m = counts.get(who) ?? new Map<string, number>();
    m.set(secret, (m.get(secret) ?? 0) + 1);
    counts.set(who, m);
  }
  const label: Record<string, string> = {
    [`${f.prefix}-b1`]: 'cpu1',
    [`${f.prefix}-b2`]: 'cpu2',
    [`${f.prefix}-b3`]: 'gpu1',
  };
  console.log("\n## Remote stacks: secret reads counted in OpenBao's audit log (one 7-step run on 3 workers)\n");
  console.log('| reader | reads per secret | max per secret |\n|---|---|---:|');
  let worst = 0;
  for (const [who, m] of [...counts.entries()].sort()) {
    const max = Math.max(...m.values());
    if (who in label) worst = Math.max(worst, max);
    console.log(
      `| ${label[who] ?? who} | ${[...m.entries()]
        .sort()
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ')} | ${max} |`,
    );
  }
  console.log(`\nMost reads of one secret by one worker in the run: ${worst} (target ≤ 1).`);
}
await f.ks.close();
process.exit(0);
