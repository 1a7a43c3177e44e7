/**
 * What a worker asks Redis per step (issue 22, target 6): one script at a step's start and one
 * transaction at its finish, neither reading the whole run. Counted on the real Redis server with
 * MONITOR, never timed; the protocol calls are checked on their own against the same server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import {
  finishStepState,
  readRunState,
  runKey,
  setStepState,
  startStepState,
} from '../../src/pipeline/remote/protocol.js';
import { codeRoot, fresh, REDIS_URL } from './harness.js';
import { inProcessWorker, remoteTestScope } from './fixture.js';

const { fixture } = remoteTestScope();
const CHAIN = `
import { pipeline, step } from '{{LIB}}';
const inc = step({ name: 'inc', enableCache: false, run: async ({ n }) => n + 1 });
export default pipeline('chain4', () => inc({ n: inc({ n: inc({ n: inc({ n: 0 }) }) }) }));
`;

const open: Redis[] = [];
afterEach(() => {
  for (const r of open.splice(0)) r.disconnect();
});
function client(): Redis {
  const r = new Redis(REDIS_URL());
  open.push(r);
  return r;
}
const signed = (status: string) => ({ p: JSON.stringify({ status }), s: 'sig', k: 'key' });

describe('a step’s Redis calls', () => {
  it('start: one script records running, or skipped once a step of the run failed for good', async () => {
    const redis = client();
    const runId = fresh('run');
    const states = { running: signed('running'), skipped: signed('skipped') };
    expect(await startStepState(redis, runId, 'a', states, 60)).toBe('running');
    // A failed attempt that will be retried does not stop the run.
    await setStepState(redis, runId, 'b', signed('running'), { attempt: 1, ttlSeconds: 60 });
    expect(await startStepState(redis, runId, 'c', states, 60)).toBe('running');
    await setStepState(redis, runId, 'b', signed('failed'), { attempt: 2, ttlSeconds: 60, failedForGood: true });
    expect(await startStepState(redis, runId, 'd', states, 60)).toBe('skipped');
    const state = await readRunState(redis, runId);
    expect(JSON.parse((state.steps.get('d') as { p: string }).p)).toEqual({ status: 'skipped' });
    expect(JSON.parse((state.steps.get('c') as { p: string }).p)).toEqual({ status: 'running' });
    const ttl = await redis.ttl(runKey(runId));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it('finish: writes the state and reads back only the fields asked for, in one transaction', async () => {
    const redis = client();
    const runId = fresh('run');
    await setStepState(redis, runId, 'other', signed('completed'), { ttlSeconds: 60 });
    await redis.hset(runKey(runId), 'job:next', JSON.stringify({ p: '{}' }), 'job:unrelated', '{}');
    const got = await finishStepState(
      redis,
      runId,
      'a',
      signed('completed'),
      { attempt: 1, ttlSeconds: 60 },
      {
        steps: ['a', 'missing'],
        jobs: ['next'],
      },
    );
    expect([...got.steps.keys()]).toEqual(['a']);
    expect([...got.jobs.keys()]).toEqual(['next']);
    expect(got.meta).toBeNull();
    expect((await readRunState(redis, runId)).attempts.has('a:1')).toBe(true);
  });

  it('a chain on one worker: one start script per step, and no whole-run read per step', async () => {
    const f = await fixture();
    const root = codeRoot({ 'chain.mjs': CHAIN });
    const { loadPipelineModule, runPipeline } = await import('../../src/index.js');
    const w = await inProcessWorker(f, root, 'cmds');
    const monitor = await client().monitor();
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => seen.push(args));
    try {
      const loaded = await loadPipelineModule('chain.mjs', undefined, root);
      const run = async () =>
        runPipeline(f.ks, loaded.pipeline, {
          module: { path: loaded.module, exportName: loaded.exportName },
          codeRoot: root,
        });
      await run(); // warm: the worker's first run sets up its caches
      seen.length = 0;
      const r = await run();
      expect(Object.values(r.outputs)).toContain(4);
      const key = runKey(r.run.id);
      const on = (cmd: string) => seen.filter((a) => a[0]?.toLowerCase() === cmd && a.includes(key));
      // The start script, once per step (its own HSET and EXPIRE run inside it).
      expect(on('eval').filter((a) => a[1]?.includes("'failed'"))).toHaveLength(4);
      // The client reads the whole run when it starts following it; the worker never does.
      expect(on('hgetall').length).toBeLessThanOrEqual(2);
      // The finish: one HMGET of the fields that scheduling the next step needs, in its MULTI.
      expect(on('hmget').filter((a) => a.some((x) => x.startsWith('job:'))).length).toBe(3);
    } finally {
      monitor.disconnect();
      await w.close();
    }
  }, 120_000);
});
