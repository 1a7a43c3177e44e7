// The cost of provenance per secret read, against the read itself, in the same run (local store).
// A step of READS reads through the guard (fingerprints, one record each) and its status is
// written with the records in one transaction; the baseline step reads the same secret straight
// from the manager and writes its status alone. The two kinds of step alternate, so that machine
// noise hits both alike; CPU time is measured, not wall time. A guard serves one step attempt and
// fingerprints each value once, so in a step of READS reads of one secret the first read pays the
// HMACs and the others do not; a fourth kind of step makes a new guard for every read, so that
// every read is a first read (cold fingerprints), and is reported on its own line.
// Run: node --import tsx bench/provenance.ts (or node bench/run.mjs provenance)
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CollectingSink, fingerprint } from '../src/core/provenance.js';
import { parseDeclaration, SecretGuard } from '../src/pipeline/access.js';
import { RunStore } from '../src/pipeline/run-store.js';
import { Keystack } from '../src/stack/client.js';
import { loadProvenanceKey } from '../src/stack/provenance-key.js';

const STEPS = Number(process.env['BENCH_STEPS'] ?? 400);
const READS = Number(process.env['BENCH_READS'] ?? 5);

const ks = new Keystack({ configDir: join(mkdtempSync(join(tmpdir(), 'ks-prov-bench-')), 'cfg'), env: {} });
const m = await ks.secretsManager();
await m.register('db', { user: 'svc', password: 'p'.repeat(32), host: 'db.internal' });
const key = loadProvenanceKey(ks.configDir, ks.env);
const runs = new RunStore(ks.store);
const runId = randomUUID();
const manager = { uuid: m.uuid, name: m.name, flavor: m.flavor.name };

/** CPU time (user + system, ms) of `fn`: wall time on a shared machine measures its neighbours. */
async function cpu(fn: () => Promise<void>): Promise<number> {
  const t = process.cpuUsage();
  await fn();
  const d = process.cpuUsage(t);
  return (d.user + d.system) / 1000;
}

async function plainStep(stepId: string, run = runId): Promise<number> {
  return cpu(async () => {
    for (let i = 0; i < READS; i++) await m.get('db');
    runs.finishStep(run, stepId, { status: 'completed', durationMs: 1 });
  });
}

async function recordedStep(stepId: string, write: boolean, cold = false, run = runId): Promise<number> {
  return cpu(async () => {
    const sink = new CollectingSink();
    const newGuard = () =>
      new SecretGuard({
        reader: {
          runId: run,
          pipeline: 'bench',
          step: stepId,
          component: undefined,
          attempt: 1,
          worker: undefined,
          host: 'h',
        },
        declaration: parseDeclaration(stepId, ['db']),
        manager,
        read: async (name) => ({ secret: await m.get(name), version: '1' }),
        fingerprint: (v) => fingerprint(key, v),
        sink,
        where: m.where,
      });
    const guard = newGuard();
    for (let i = 0; i < READS; i++) await (cold ? newGuard() : guard).get('db');
    runs.finishStep(run, stepId, { status: 'completed', durationMs: 1, records: write ? sink.drain() : [] });
  });
}

// Warm up both paths (statement caches, the JIT), the recorded one with a step of a first run
// whose records are moved into the indexed rows, as on any machine that has run the pipeline
// before. (The set of the values read is written by the first step that reads them, either way.)
for (let i = 0; i < 20; i++) {
  await m.get('db');
  fingerprint(key, 'warm');
}
/** A run of the bench pipeline with these steps. */
function newRun(id: string, stepIds: readonly string[]): void {
  runs.createRun(
    {
      id,
      pipeline: 'bench',
      stack: 'default',
      orchestrator: 'default',
      module: null,
      exportName: null,
      startedAt: new Date().toISOString(),
    },
    stepIds.map((stepId, position) => ({ stepId, name: stepId, position, params: {}, cacheEnabled: false })),
  );
}
{
  const warmRun = randomUUID();
  newRun(warmRun, ['warm']);
  await recordedStep('warm', true, false, warmRun);
  ks.provenance.index();
}
// Four kinds of step, in rotating order: plain reads; guarded reads whose records are dropped
// (the guard's own cost: decide, fingerprint, build the record); guarded reads recorded; and the
// same with a new guard per read (every fingerprint cold).
const KINDS = ['plain', 'guarded', 'recorded', 'cold'] as const;
const total = { plain: 0, guarded: 0, recorded: 0, cold: 0 };
const ids = Array.from({ length: KINDS.length * STEPS }, (_, i) => `t${i}`);
newRun(runId, ids);
for (let i = 0; i < STEPS; i++) {
  const order = KINDS.map((_, j, a) => a[(i + j) % a.length] as keyof typeof total);
  for (const [j, kind] of order.entries()) {
    const id = ids[KINDS.length * i + j] as string;
    total[kind] += kind === 'plain' ? await plainStep(id) : await recordedStep(id, kind !== 'guarded', kind === 'cold');
  }
}
// The records wait in their steps' logs; moving them into the indexed rows, as the first question
// asked does, is timed on its own: once per record, in one batch.
const pending = (ks.store.db.prepare('SELECT COUNT(*) AS n FROM provenance_log').get() as { n: number }).n;
const t0 = process.cpuUsage();
const moved = ks.provenance.index();
const indexMs = ((d) => (d.user + d.system) / 1000)(process.cpuUsage(t0));
const reads = STEPS * READS;
const per = (ms: number) => (ms / reads).toFixed(4);
const extra = (total.recorded - total.plain) / reads;
const coldExtra = (total.cold - total.plain) / reads;
const records = (ks.store.db.prepare('SELECT COUNT(*) AS n FROM provenance').get() as { n: number }).n;
console.log(
  `\n## Provenance per read (local store, ${STEPS} steps of ${READS} reads of each kind, Node ${process.version})\n`,
);
console.log('| step reads | CPU ms per read |\n|---|---:|');
console.log(`| manager.get (the read itself; the step status written alone) | ${per(total.plain)} |`);
console.log(`| through the guard, records dropped | ${per(total.guarded)} |`);
console.log(`| through the guard, records written with the status | ${per(total.recorded)} |`);
console.log(`| the same, every read a first read (a new guard each: cold fingerprints) | ${per(total.cold)} |`);
console.log(
  `\nThe provenance write (the step's records, written with its status) costs ` +
    `${((100 * (total.recorded - total.guarded)) / reads / (total.plain / reads)).toFixed(1)}% of a local-store read (target < 5%): ` +
    `${((total.recorded - total.guarded) / reads).toFixed(4)} ms per read. With the guard (decide, fingerprint, build the record): ` +
    `${((100 * extra) / (total.plain / reads)).toFixed(1)}%, ${extra.toFixed(4)} ms per read. ` +
    `${KINDS.length * reads} reads, ${records} records written (3 keys, so 3 fingerprints each).`,
);
console.log(
  `Moving ${pending} steps' lines of the access log into the indexed rows (the first question does it, once): ${moved} records, ` +
    `${indexMs.toFixed(1)} CPU ms, ${(indexMs / Math.max(moved, 1)).toFixed(4)} ms per record ` +
    `(${((100 * indexMs) / Math.max(moved, 1) / (total.plain / reads)).toFixed(1)}% of a read).`,
);
console.log(
  `Every read a first read: ${((100 * coldExtra) / (total.plain / reads)).toFixed(1)}% (${coldExtra.toFixed(4)} ms per read).`,
);
await ks.close();
