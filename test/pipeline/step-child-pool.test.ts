/**
 * The worker's pre-forked step children (pool.ts): a spare is prepared for the run and module of
 * the job just taken (it imports the module before it has a step), serves one step at most, is
 * killed and replaced when the next job is for another run or module, and is killed on close even
 * if the module's code ignores SIGTERM. What a module prints at import is masked like the step's.
 */
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CollectingSink } from '../../src/core/provenance.js';
import type { StepNode } from '../../src/pipeline/index.js';
import { loadPipelineModule } from '../../src/pipeline/index.js';
import type { JobEnvelope } from '../../src/pipeline/remote/envelope.js';
import { stepHost, type StepHost } from '../../src/pipeline/remote/step-host.js';
import type { WorkerLauncher } from '../../src/pipeline/run-common.js';
import { scrubbedEnv } from '../../src/pipeline/step-host/env.js';
import { hostCapability, stackView } from '../../src/pipeline/step-host/host-guard.js';
import { holdWrites, maskWrites } from '../../src/pipeline/step-host/mask-writes.js';
import { runInChild, spawnStepChild, type StepChild } from '../../src/pipeline/step-host/parent.js';
import { createStepChildPool, type SpareFor } from '../../src/pipeline/step-host/pool.js';
import { Keystack } from '../../src/stack/client.js';
import { StackRuntime } from '../../src/stack/runtime.js';
import { processMasker } from '../../src/support/masking.js';

/** A stand-in child: records the signals it gets; `dead` makes failure() report an exit. */
function fakeChild(n: number, job: SpareFor | undefined) {
  const proc = Object.assign(new EventEmitter(), { signals: [] as string[], n, job, dead: false });
  const child = {
    process: Object.assign(proc, {
      kill: (s: string) => {
        proc.signals.push(s);
        proc.dead = true;
        return true;
      },
    }),
    failure: () => (proc.dead ? 'the step process exited with SIGKILL' : undefined),
  };
  return child as unknown as StepChild & { process: typeof proc };
}

/** `defer`: how the pool starts new spares; by default at once, so that a test sees them. */
function fakePool(spares?: number, defer: (start: () => void) => void = (start) => start()) {
  const spawned: ReturnType<typeof fakeChild>[] = [];
  const pool = createStepChildPool(
    (job) => {
      const c = fakeChild(spawned.length, job);
      spawned.push(c);
      return c;
    },
    spares,
    defer,
  );
  return { pool, spawned };
}

const A: SpareFor = { runId: 'run-1', module: { path: '/code/a.mjs', exportName: 'default' } };

describe('createStepChildPool', () => {
  it('hands the unprepared first spare to any job, then keeps a spare prepared for that job', () => {
    const { pool, spawned } = fakePool();
    expect(spawned.map((c) => c.process.job)).toEqual([undefined]);
    const first = pool.take(A);
    expect(first).toBe(spawned[0]);
    expect(spawned.map((c) => c.process.job)).toEqual([undefined, A]);
    // The prepared spare serves the next step of the same run and module, and is never handed out twice.
    const second = pool.take(A);
    expect(second).toBe(spawned[1]);
    expect(second).not.toBe(first);
    expect(spawned).toHaveLength(3);
    expect(spawned.flatMap((c) => c.process.signals)).toEqual([]);
  });

  it('kills a spare prepared for another module or another run, and starts a fresh child for the job', () => {
    for (const other of [
      { ...A, module: { path: '/code/b.mjs', exportName: 'default' } },
      { ...A, module: { ...A.module, exportName: 'nightly' } },
      { ...A, runId: 'run-2' },
    ]) {
      const { pool, spawned } = fakePool();
      pool.take(A);
      const prepared = spawned[1];
      const child = pool.take(other);
      expect(prepared?.process.signals).toEqual(['SIGKILL']);
      expect(child).not.toBe(prepared);
      expect(child.process).toMatchObject({ job: other, signals: [] });
      expect(spawned.at(-1)?.process).toMatchObject({ job: other, signals: [] });
    }
  });

  it('does not hand out a spare that died while it waited', () => {
    const { pool, spawned } = fakePool();
    pool.take(A);
    const prepared = spawned[1];
    if (prepared) prepared.process.dead = true;
    const child = pool.take(A);
    expect(child).not.toBe(prepared);
    expect(child.failure()).toBeUndefined();
  });

  it('keeps `spares` children ready, each handed out once', () => {
    const { pool, spawned } = fakePool(2);
    pool.take(A);
    expect(spawned).toHaveLength(3);
    const taken = [pool.take(A), pool.take(A), pool.take(A)];
    expect(new Set(taken).size).toBe(3);
    expect(taken).toEqual([spawned[1], spawned[2], spawned[3]]);
  });

  it('starts new spares only after the taken child is handed out, once for the latest job', () => {
    const pending: (() => void)[] = [];
    const { pool, spawned } = fakePool(2, (start) => pending.push(start));
    const B: SpareFor = { ...A, runId: 'run-2' };
    const first = pool.take(A);
    // The step's child is there at once; nothing else was started in the same turn.
    expect(first).toBe(spawned[0]);
    expect(spawned).toHaveLength(1);
    // A second take before the refill runs starts its own child, and the refill is not doubled.
    const second = pool.take(B);
    expect(spawned).toHaveLength(2);
    expect(pending).toHaveLength(1);
    pending.shift()?.();
    // Prepared for the latest job.
    expect(spawned.slice(2).map((c) => c.process.job)).toEqual([B, B]);
    expect(pool.take(B)).toBe(spawned[2]);
    expect(second).toBe(spawned[1]);
    // A refill that runs after close starts nothing.
    pool.close();
    const count = spawned.length;
    for (const start of pending.splice(0)) start();
    expect(spawned).toHaveLength(count);
  });

  it('by default starts the new spare on the next turn of the event loop', async () => {
    const spawned: SpareFor[] = [];
    const pool = createStepChildPool((job) => {
      spawned.push(job as SpareFor);
      return fakeChild(spawned.length, job);
    });
    pool.take(A);
    expect(spawned).toHaveLength(1);
    await new Promise((r) => setImmediate(r));
    expect(spawned).toEqual([undefined, A]);
    pool.close();
  });

  it('kills every spare on close with SIGKILL and starts none after', () => {
    const { pool, spawned } = fakePool(2);
    pool.take(A);
    pool.close();
    expect(spawned.slice(1).map((c) => c.process.signals)).toEqual([['SIGKILL'], ['SIGKILL']]);
    const count = spawned.length;
    pool.take(A);
    expect(spawned).toHaveLength(count + 1);
  });
});

describe('holdWrites', () => {
  it('holds writes until release, and the replay goes through the masking set up since', () => {
    const written: string[] = [];
    const stream = { write: (c: string) => written.push(c) > 0 } as unknown as NodeJS.WriteStream;
    const release = holdWrites([stream]);
    stream.write('import says pool-held-value-83\n');
    expect(written).toEqual([]);
    const replay = release();
    processMasker.add(['pool-held-value-83']);
    const unmask = maskWrites([stream]);
    replay();
    unmask();
    expect(written).toHaveLength(1);
    expect(written[0]).not.toContain('pool-held-value-83');
  });
});

// Real step children, started as a built keystack starts them but from the sources (tsx).
const launcher: WorkerLauncher = {
  command: process.execPath,
  args: ['--import', 'tsx', resolve('src/pipeline/step-host/entry.ts')],
};

let ks: Keystack | undefined;
let host: StepHost | undefined;
afterEach(async () => {
  host?.close();
  host = undefined;
  await ks?.close();
  ks = undefined;
});

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until<T>(what: string, f: () => T | undefined): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** A module whose import logs the importing pid and ignores SIGTERM; its step returns its pid. */
function writeModule(dir: string, name: string): string {
  const file = join(dir, `${name}.mjs`);
  writeFileSync(
    file,
    `import { appendFileSync } from 'node:fs';\n` +
      `import { pipeline, step } from ${JSON.stringify(resolve('src/pipeline/authoring.ts'))};\n` +
      `appendFileSync(${JSON.stringify(join(dir, `${name}.log`))}, process.pid + '\\n');\n` +
      `globalThis.imported = [...(globalThis.imported ?? []), ${JSON.stringify(name)}];\n` +
      `process.on('SIGTERM', () => undefined);\n` +
      `const who = step({ name: 'who', secrets: ['api'], enableCache: false, run: async (_i, c) => {\n` +
      `  await c.secrets.get('api'); return { pid: process.pid, imported: globalThis.imported }; } });\n` +
      `export default pipeline(${JSON.stringify(name)}, () => who());\n`,
  );
  return file;
}

/** The pids of the children that imported module `name` (the test's own import is left out). */
const pids = (dir: string, name: string): number[] =>
  existsSync(join(dir, `${name}.log`))
    ? readFileSync(join(dir, `${name}.log`), 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map(Number)
        .filter((p) => p !== process.pid)
    : [];

async function setup() {
  const configDir = mkdtempSync(join(tmpdir(), 'keystack-pool-'));
  const k = new Keystack({ configDir, env: {} });
  ks = k;
  await (await k.secretsManager()).register('api', { token: 'pool-token-value-61' });
  const stack = await StackRuntime.load(k);
  const dir = mkdtempSync(join(tmpdir(), 'keystack-pool-code-'));
  return { configDir, stack, dir };
}

/** One step of run 'r' in `child`, for the module at `path`, with its capability. */
async function runStep(
  { configDir, stack }: { configDir: string; stack: StackRuntime },
  child: Parameters<typeof runInChild>[0],
  node: StepNode,
  path: string,
  timeoutSeconds: number,
) {
  const { broker } = hostCapability(
    stack,
    { runId: 'r', pipeline: 'p', node, attempt: 1, worker: 'w' },
    { configDir, env: {} },
  );
  const start = {
    runId: 'r',
    pipeline: 'p',
    stepId: node.id,
    attempt: 1,
    module: { path, exportName: 'default' },
    inputs: {},
    stack: stackView(stack),
  };
  return runInChild(child, start, broker, timeoutSeconds);
}

describe('a worker step host with pre-forked children', () => {
  it('runs each step in a child that imported the module before its step, and never in one prepared for another module', async () => {
    const { configDir, stack, dir } = await setup();
    const a = writeModule(dir, 'a');
    const b = writeModule(dir, 'b');
    const node = (await loadPipelineModule(a)).pipeline.graph()[0] as StepNode;
    const h = await stepHost({ launcher, env: scrubbedEnv(process.env), user: undefined });
    host = h;
    const run = async (module: string, runId: string, attempt: number) =>
      (
        await h.run(
          { stack, module: { path: module, exportName: 'default' }, own: { configDir, env: {} } },
          { runId, pipeline: 'p' } as JobEnvelope,
          node,
          {},
          60,
          { worker: 'w', attempt, sink: new CollectingSink() },
        )
      ).value as { pid: number; imported: string[] };

    const s1 = await run(a, 'run-1', 1);
    // The spare prepared for run-1's module imports it with no step given: its pid is logged.
    const prepared = await until('the spare to import a', () => pids(dir, 'a').find((p) => p !== s1.pid));
    const s2 = await run(a, 'run-1', 2);
    expect(s2.pid).toBe(prepared);
    expect(s2.imported).toEqual(['a']);
    expect(pids(dir, 'a').filter((p) => p === s2.pid)).toHaveLength(1);

    // The next spare, prepared for a, is not used for b: it is killed and b runs in a fresh child.
    const spareForA = await until('the next spare to import a', () =>
      pids(dir, 'a').find((p) => p !== s1.pid && p !== s2.pid),
    );
    const s3 = await run(b, 'run-1', 3);
    expect(s3.pid).not.toBe(spareForA);
    expect(s3.imported).toEqual(['b']);
    await until('the spare prepared for a to die', () => (alive(spareForA) ? undefined : true));

    // A spare prepared for b is killed on close, though b's code ignores SIGTERM.
    const spareForB = await until('the spare to import b', () => pids(dir, 'b').find((p) => p !== s3.pid));
    expect(alive(spareForB)).toBe(true);
    h.close();
    host = undefined;
    await until('the spare prepared for b to die', () => (alive(spareForB) ? undefined : true));
    expect(new Set([s1.pid, s2.pid, s3.pid]).size).toBe(3);
  });

  it('a child prepared for one module refuses a step of another', async () => {
    const { configDir, stack, dir } = await setup();
    const a = writeModule(dir, 'a');
    const b = writeModule(dir, 'b');
    const node = (await loadPipelineModule(a)).pipeline.graph()[0] as StepNode;
    const { spawn } = await import('node:child_process');
    const child = spawnStepChild(spawn, {
      launcher,
      env: scrubbedEnv(process.env),
      prepare: { path: a, exportName: 'default' },
    });
    const outcome = await runStep({ configDir, stack }, child, node, b, 60);
    expect(outcome).toMatchObject({ ok: false });
    expect(outcome.ok ? '' : outcome.error).toContain('ahead of its step, not');
    expect(pids(dir, 'b')).toEqual([]);
  });
});

describe('runInChild', () => {
  it('ends the step on its result, and kills a child that does not exit after it', async () => {
    const { configDir, stack, dir } = await setup();
    const file = join(dir, 'stays.mjs');
    writeFileSync(
      file,
      `import { pipeline, step } from ${JSON.stringify(resolve('src/pipeline/authoring.ts'))};\n` +
        `const stays = step({ name: 'stays', enableCache: false, run: async () => {\n` +
        `  process.exit = () => undefined; setInterval(() => undefined, 1000); return { pid: process.pid }; } });\n` +
        `export default pipeline('stays', () => stays());\n`,
    );
    const node = (await loadPipelineModule(file)).pipeline.graph()[0] as StepNode;
    const { spawn } = await import('node:child_process');
    const child = spawnStepChild(spawn, { launcher, env: scrubbedEnv(process.env) });
    // Far longer than the test may take: the step must end on its result, not on this timeout.
    const outcome = await runStep({ configDir, stack }, child, node, file, 600);
    expect(outcome).toEqual({ ok: true, value: { pid: child.process.pid } });
    await until('the child that stayed to be killed', () => (child.failure() === undefined ? undefined : true));
    expect(child.process.signalCode).toBe('SIGKILL');
  });
});
