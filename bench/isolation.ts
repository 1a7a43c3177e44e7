/**
 * The per-step price of worker process isolation (`node bench/run.mjs isolation`): one worker's
 * step host running 100 ms steps one after another, `--isolation process` (a pre-forked step child
 * per step, its declared secret read over the capability) against `--isolation none` (the same
 * step context in-process), in the same run. Both do the same secret read. What bullmq and S3 add
 * per step is the same in both modes and is left out (bench/remote.ts measures it). Also: spares
 * that import the module only at their step (as before spares were prepared), the CLI bundle as
 * the launcher, and 2 and 4 step hosts at once (as many workers on one machine). Prints markdown:
 * steps/s, the ratio to ideal (10 steps/s per host), CPU ms per step (the children's plus the
 * host's) and per spawn (the children's). BENCH_ISOLATION_STEPS, BENCH_ISOLATION_PARALLEL_STEPS
 * (0: no 2- and 4-host runs) and BENCH_SPARES (children kept ready per host) change the runs.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CollectingSink } from '../src/core/provenance.js';
import { createStepContext } from '../src/pipeline/step-context.js';
import { loadPipelineModule, type StepContext, type StepNode } from '../src/pipeline/index.js';
import type { JobEnvelope } from '../src/pipeline/remote/envelope.js';
import { stepHost } from '../src/pipeline/remote/step-host.js';
import { scrubbedEnv } from '../src/pipeline/step-host/env.js';
import { stepChildLauncher } from '../src/pipeline/step-host/launcher.js';
import type { WorkerLauncher } from '../src/pipeline/run-common.js';
import { Keystack } from '../src/stack/client.js';
import { StackRuntime } from '../src/stack/runtime.js';

const STEPS = Number(process.env['BENCH_ISOLATION_STEPS'] ?? 20);
const STEP_MS = 100;
/** Children each step host keeps ready ahead of their steps (the worker's default is 1). */
const SPARES = Number(process.env['BENCH_SPARES'] ?? 1);
/** Steps per host in the 2- and 4-host runs; 0 leaves those runs out. */
const PARALLEL_STEPS = Number(process.env['BENCH_ISOLATION_PARALLEL_STEPS'] ?? 10);

/** CPU ms of this process and of its children that have ended (/proc: clock ticks of 10 ms). */
function cpuMs(): { self: number; children: number } {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
  const tick = 10;
  // After the `(comm)` field: utime, stime, cutime, cstime are fields 12-15 of what follows.
  return { self: (Number(f[11]) + Number(f[12])) * tick, children: (Number(f[13]) + Number(f[14])) * tick };
}

const configDir = mkdtempSync(join(tmpdir(), 'ks-bench-iso-'));
const ks = new Keystack({ configDir, env: {} });
await (await ks.secretsManager()).register('api', { token: 'bench-token-value' });
const stack = await StackRuntime.load(ks);
const root = mkdtempSync(join(tmpdir(), 'ks-bench-iso-code-'));
const mod = join(root, 'sleepy.mjs');
writeFileSync(
  mod,
  `import { pipeline, step } from ${JSON.stringify(resolve('dist/lib/index.js'))};\n` +
    `const sleepy = step({ name: 'sleepy', secrets: ['api'], enableCache: false, run: async (_i, c) => {\n` +
    `  await c.secrets.get('api'); await new Promise((r) => setTimeout(r, ${STEP_MS})); return 1; } });\n` +
    `export default pipeline('sleepy', () => sleepy());\n`,
);
// The same pipeline importing only `keystack/pipeline` (the step definitions), not the library.
const lightMod = join(root, 'sleepy-light.mjs');
writeFileSync(
  lightMod,
  readFileSync(mod, 'utf8').replace(
    JSON.stringify(resolve('dist/lib/index.js')),
    JSON.stringify(resolve('dist/lib/pipeline/authoring.js')),
  ),
);
const loaded = await loadPipelineModule(mod);
const light = await loadPipelineModule(lightMod);
const first = loaded.pipeline.graph()[0];
if (!first) throw new Error('no step');
const node: StepNode = first;
const envelope = { runId: 'bench-run', pipeline: 'sleepy' } as JobEnvelope;

async function inProcess(): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < STEPS; i++) {
    const context: StepContext = createStepContext({
      stack,
      runId: envelope.runId,
      pipeline: envelope.pipeline,
      node,
      attempt: i + 1,
      worker: 'bench',
      sink: new CollectingSink(),
      provenanceKey: () => Buffer.alloc(32, 1),
    });
    await (node.step.run as (i: unknown, c: StepContext) => Promise<unknown>)({}, context);
  }
  return performance.now() - t;
}

/**
 * `hosts` step hosts (as many workers) each running `steps` steps one after another, at once.
 * The CPU counted is this process's and that of the children that have ended.
 */
async function inChildren(
  launcher: WorkerLauncher,
  m: { module: string; exportName: string } = loaded,
  hosts = 1,
  steps = STEPS,
  prepareSpares = true,
): Promise<{ wall: number; cpuSelf: number; cpuChildren: number; steps: number }> {
  const started = await Promise.all(
    Array.from({ length: hosts }, () =>
      stepHost({
        launcher,
        env: scrubbedEnv(process.env),
        user: undefined,
        spares: SPARES,
        prepareSpares,
      }),
    ),
  );
  // The first spares are started here, as a worker does at start: let them come up.
  await new Promise((r) => setTimeout(r, 1500 * hosts));
  const before = cpuMs();
  const t = performance.now();
  await Promise.all(
    started.map(async (host, h) => {
      for (let i = 0; i < steps; i++) {
        await host.run(
          { stack, module: { path: m.module, exportName: m.exportName }, own: { configDir, env: {} } },
          { ...envelope, runId: `bench-run-${h}` },
          node,
          {},
          60,
          { worker: `bench-${h}`, attempt: i + 1, sink: new CollectingSink() },
        );
      }
    }),
  );
  const wall = performance.now() - t;
  const after = cpuMs();
  for (const host of started) host.close();
  return {
    wall,
    cpuSelf: after.self - before.self,
    cpuChildren: after.children - before.children,
    steps: hosts * steps,
  };
}

const c0 = cpuMs();
const none = await inProcess();
const c1 = cpuMs();
const entry = stepChildLauncher(resolve('dist')) ?? { command: 'missing', args: [] };
// The step child's own entry (what launchers use), and the CLI bundle's `pipeline __step` (what
// they used before it), in the same run.
const proc = await inChildren(entry);
const lightProc = await inChildren(entry, light);
// The same, with spares that import the module only when they get their step (before this was done).
const unprepared = await inChildren(entry, loaded, 1, STEPS, false);
const lightUnprepared = await inChildren(entry, light, 1, STEPS, false);
const viaCli = await inChildren({ command: process.execPath, args: [resolve('dist/cli.cjs'), 'pipeline', '__step'] });
const parallelRuns: {
  hosts: number;
  r: Awaited<ReturnType<typeof inChildren>>;
  light: Awaited<ReturnType<typeof inChildren>>;
}[] = [];
for (const hosts of PARALLEL_STEPS > 0 ? [2, 4] : []) {
  parallelRuns.push({
    hosts,
    r: await inChildren(entry, loaded, hosts, PARALLEL_STEPS),
    light: await inChildren(entry, light, hosts, PARALLEL_STEPS),
  });
}
await ks.close();

const IDEAL = 1000 / STEP_MS;
const noneCpuPerStep = (c1.self - c0.self) / STEPS;
const perStep = (r: { cpuSelf: number; cpuChildren: number; steps: number }) => (r.cpuSelf + r.cpuChildren) / r.steps;
const rate = (r: { wall: number; steps: number }) => (r.steps * 1000) / r.wall;
/** Wall ms per step is per host: `hosts` steps run at once. */
const row = (label: string, r: { wall: number; steps: number; cpuSelf: number; cpuChildren: number }, hosts = 1) =>
  `| ${label} | ${rate(r).toFixed(2)} | ${(rate(r) / (IDEAL * hosts)).toFixed(2)} | ${((r.wall * hosts) / r.steps).toFixed(1)} | ${perStep(r).toFixed(1)} | ${(r.cpuChildren / r.steps).toFixed(1)} |`;
console.log(
  `\n## Worker step isolation (${STEPS} steps of ${STEP_MS} ms, one after another, ${SPARES} spare child per host, Node ${process.version})\n`,
);
console.log(
  `Ideal: ${IDEAL} steps/s per host. CPU ms per step: the host's and the step children's, in 10 ms ticks ` +
    `(a spare still running at the end is not counted); per spawn: the step children's alone.\n`,
);
console.log(
  '| isolation | steps/s | of ideal | wall ms per step | CPU ms per step | CPU ms per spawn |\n|---|---:|---:|---:|---:|---:|',
);
console.log(
  `| none (in the worker process) | ${((STEPS * 1000) / none).toFixed(2)} | ${((STEPS * 1000) / none / IDEAL).toFixed(2)} | ${(none / STEPS).toFixed(1)} | ${noneCpuPerStep.toFixed(1)} | - |`,
);
console.log(row('process (dist/step-child.cjs, the module imports `keystack`)', proc));
console.log(row('process (dist/step-child.cjs, the module imports `keystack/pipeline`)', lightProc));
console.log(row('process, spare imports the module at its step (`keystack`)', unprepared));
console.log(row('process, spare imports the module at its step (`keystack/pipeline`)', lightUnprepared));
console.log(row('process (`cli.cjs pipeline __step`, the module imports `keystack`)', viaCli));
for (const p of parallelRuns) {
  console.log(row(`process, ${p.hosts} hosts at once (${PARALLEL_STEPS} steps each), \`keystack\``, p.r, p.hosts));
  console.log(
    row(`process, ${p.hosts} hosts at once (${PARALLEL_STEPS} steps each), \`keystack/pipeline\``, p.light, p.hosts),
  );
}
