/**
 * A remote step reads its inputs, and the client the run's outputs, without asking S3 for them:
 * a small output travels beside the store, sealed, in the signed result and in the next step's job
 * (remote/sealed-outputs.ts), and a worker keeps the outputs it wrote (remote/worker-cache.ts).
 * With `inline_output_max_bytes=0` nothing travels: the next step on the same worker still reads
 * its input without a GET, a step on another worker and the client read from S3. GetObject
 * requests are counted in this process (client and in-process workers), by URI, never timed.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countS3Gets } from '../../src/pipeline/s3-artifacts.js';
import { updateComponent } from '../../src/stack/component-ops.js';
import { allowFlagsFor, codeRoot, dumpRedis, listObjects, pairWithClient, REDIS_URL } from './harness.js';
import { queues, remoteTestScope, type RemoteFixture } from './fixture.js';

const { fixture } = remoteTestScope();
// `b` runs on the gpu step operator's queue, so that a test can give it a worker of its own.
const CHAIN = `
import { pipeline, step } from '{{LIB}}';
const a = step({ name: 'a', enableCache: false, run: async ({ n }) => ({ xs: [n, n + 1], s: 'é' }) });
const b = step({ name: 'b', enableCache: false, stepOperator: 'gpu', run: async ({ x }) => {
  x.xs.push(99); // a step may mutate its input: no later read sees it
  return x.xs.reduce((s, v) => s + v, 0);
} });
export default pipeline('chain', () => b({ x: a({ n: 4 }) }));
`;
// The same chain with `a` cached: a second run copies the first run's output under its own URI.
const CACHED = CHAIN.replace("name: 'a', enableCache: false", "name: 'a', enableCache: true");

async function startIn(
  f: RemoteFixture,
  name: string,
  serve: string[],
  token: string,
  isolation: 'process' | 'none' = 'process',
): Promise<{ close(): Promise<void> }> {
  const { startWorker } = await import('../../src/index.js');
  const configDir = join(mkdtempSync(join(tmpdir(), `keystack-wout-${name}-`)), 'config');
  const [, trustFile = ''] = pairWithClient(f.configDir, configDir, name);
  const [, manager = '', , store = ''] = await allowFlagsFor(f.configDir);
  return startWorker({
    redisUrl: REDIS_URL(),
    queues: serve,
    codeRoot: root,
    name,
    env: { VAULT_TOKEN: token },
    configDir,
    trustKeys: [trustFile],
    allowManagers: [manager],
    allowArtifactStores: [store],
    isolation,
  });
}

const root = codeRoot({ 'chain.mjs': CHAIN, 'cached.mjs': CACHED });

/** Runs the chain and returns its steps and how many GETs each output took. */
async function runChain(f: RemoteFixture, file = 'chain.mjs') {
  const { loadPipelineModule, runPipeline } = await import('../../src/index.js');
  const loaded = await loadPipelineModule(file, undefined, root);
  const counting = countS3Gets();
  try {
    const r = await runPipeline(f.ks, loaded.pipeline, {
      module: { path: loaded.module, exportName: loaded.exportName },
      codeRoot: root,
    });
    const step = (id: string) => r.steps.find((s) => s.stepId === id);
    const gets = (id: string) => counting.gets.get(`${r.run.id}/${id}.json`) ?? 0;
    return { r, a: step('a'), b: step('b'), getsA: gets('a'), getsB: gets('b') };
  } finally {
    counting.stop();
  }
}

describe('a worker that wrote a step’s output', () => {
  for (const isolation of ['process', 'none'] as const) {
    it(`gives it to the next step on it without reading it back from S3 (--isolation ${isolation})`, async () => {
      const f = await fixture();
      const q = queues(f);
      const w = await startIn(f, `one-${isolation}`, [q.main, q.gpu], f.tokens.gpu, isolation);
      try {
        const { r, a, b, getsA, getsB } = await runChain(f);
        expect(r.outputs).toEqual({ a: { xs: [4, 5], s: 'é' }, b: 108 });
        expect([a?.worker, b?.worker]).toEqual([`one-${isolation}`, `one-${isolation}`]);
        // Nothing read back from S3: the worker had `a`'s output, the client the sealed copies.
        expect(getsA).toBe(0);
        expect(getsB).toBe(0);
        // The input's hash is the hash of what was stored, as a read from S3 gives it.
        expect(b?.inputs['x']?.hash).toBe(a?.output?.hash);
      } finally {
        await w.close();
      }
    }, 120_000);
  }

  it('keeps the copy it makes of a cached output too', async () => {
    const f = await fixture();
    const q = queues(f);
    const w = await startIn(f, 'cached', [q.main, q.gpu], f.tokens.gpu);
    try {
      const first = await runChain(f, 'cached.mjs');
      expect(first.a?.status).toBe('completed');
      const second = await runChain(f, 'cached.mjs');
      expect(second.a?.status).toBe('cached');
      expect(second.r.outputs).toEqual({ a: { xs: [4, 5], s: 'é' }, b: 108 });
      // The copy under the second run's URI went to S3 and travelled sealed: nobody read it back.
      expect(second.getsA).toBe(0);
      expect((await listObjects(f.bucket, 'runs/')).some((k) => k.includes(`${second.r.run.id}/a.json`))).toBe(true);
      expect(second.b?.inputs['x']?.hash).toBe(first.a?.output?.hash);
    } finally {
      await w.close();
    }
  }, 120_000);

  it('gives a step on another worker its input sealed in its job, with the same value and hash; the output is in S3 too', async () => {
    const f = await fixture();
    const q = queues(f);
    const main = await startIn(f, 'main-only', [q.main], f.tokens.cpu);
    const gpu = await startIn(f, 'gpu-only', [q.gpu], f.tokens.gpu);
    try {
      const { r, a, b, getsA, getsB } = await runChain(f);
      expect(r.outputs).toEqual({ a: { xs: [4, 5], s: 'é' }, b: 108 });
      expect([a?.worker, b?.worker]).toEqual(['main-only', 'gpu-only']);
      expect(getsA).toBe(0);
      expect(getsB).toBe(0);
      expect(b?.inputs['x']?.hash).toBe(a?.output?.hash);
      // The store is still the record: both outputs were written before the steps completed.
      const objects = await listObjects(f.bucket, 'runs/');
      for (const id of ['a', 'b']) expect(objects.some((k) => k.endsWith(`${r.run.id}/${id}.json`))).toBe(true);
      // In Redis the copies are sealed: the run's state and jobs carry them, and no form of the
      // output's text is there in clear.
      const dump = (await dumpRedis(REDIS_URL()))
        .split('\n')
        .filter((l) => l.includes(r.run.id))
        .join('\n');
      expect(dump).toContain('sealedOutput');
      expect(dump).toContain('sealedInputs');
      for (const clear of ['"xs":[4,5]', Buffer.from('{"value":{"xs":[4,5]').toString('base64').slice(0, 16)])
        expect(dump).not.toContain(clear);
    } finally {
      await Promise.all([main.close(), gpu.close()]);
    }
  }, 120_000);

  it('with inline_output_max_bytes=0 nothing travels: a step on another worker and the client read from S3', async () => {
    const f = await fixture();
    updateComponent(f.ks, 'orchestrator', 'bq', { inline_output_max_bytes: 0 });
    const q = queues(f);
    const main = await startIn(f, 'main-only0', [q.main], f.tokens.cpu);
    const gpu = await startIn(f, 'gpu-only0', [q.gpu], f.tokens.gpu);
    try {
      const { r, a, b, getsA, getsB } = await runChain(f);
      expect(r.outputs).toEqual({ a: { xs: [4, 5], s: 'é' }, b: 108 });
      expect([a?.worker, b?.worker]).toEqual(['main-only0', 'gpu-only0']);
      // The gpu worker's read of its input, then the client's.
      expect(getsA).toBe(2);
      expect(getsB).toBe(1);
      expect(b?.inputs['x']?.hash).toBe(a?.output?.hash);
      const dump = await dumpRedis(REDIS_URL());
      expect(dump.split('\n').some((l) => l.includes(r.run.id) && l.includes('sealed'))).toBe(false);
    } finally {
      await Promise.all([main.close(), gpu.close()]);
    }
  }, 120_000);
});
