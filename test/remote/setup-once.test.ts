/**
 * A worker sets up once per process what used to be set up once per run (issue 22, target 3):
 * the artifact sealing key, the S3 client, and the private store its job's stack snapshot is
 * installed in, rebuilt only for a snapshot with another hash. Counted in one process (an
 * in-process worker), never timed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { s3ClientsMade } from '../../src/pipeline/s3-artifacts.js';
import { updateComponent } from '../../src/stack/component-ops.js';
import { keyDerivations } from '../../src/support/aead.js';
import { allowFlagsFor, codeRoot, pairWithClient, REDIS_URL } from './harness.js';
import { queues, remoteTestScope } from './fixture.js';

const { fixture } = remoteTestScope();
const TWO = `
import { pipeline, step } from '{{LIB}}';
const a = step({ name: 'a', enableCache: false, run: async ({ n }) => n + 1 });
const b = step({ name: 'b', enableCache: false, run: async ({ x }) => x * 10 });
export default pipeline('two', () => b({ x: a({ n: 4 }) }));
`;

const savedTmp = process.env['TMPDIR'];
afterEach(() => {
  if (savedTmp === undefined) delete process.env['TMPDIR'];
  else process.env['TMPDIR'] = savedTmp;
});

describe('a worker process', () => {
  it('derives the sealing key, makes the S3 client and builds the snapshot’s store once, not per run', async () => {
    const f = await fixture();
    const root = codeRoot({ 'two.mjs': TWO });
    const { startWorker, loadPipelineModule, runPipeline } = await import('../../src/index.js');
    const configDir = join(mkdtempSync(join(tmpdir(), 'keystack-once-worker-')), 'config');
    const [, trustFile = ''] = pairWithClient(f.configDir, configDir, 'once');
    const [, manager = '', , store = ''] = await allowFlagsFor(f.configDir);
    // The worker's private stores are made under the temporary directory: a fresh one counts them.
    const tmp = mkdtempSync(join(tmpdir(), 'keystack-once-tmp-'));
    process.env['TMPDIR'] = tmp;
    const stores = () => readdirSync(tmp).filter((d) => d.startsWith('keystack-worker-')).length;
    const w = await startWorker({
      redisUrl: REDIS_URL(),
      queues: [queues(f).main],
      codeRoot: root,
      name: 'once',
      env: { VAULT_TOKEN: f.tokens.cpu },
      configDir,
      trustKeys: [trustFile],
      allowManagers: [manager],
      allowArtifactStores: [store],
    });
    try {
      const loaded = await loadPipelineModule('two.mjs', undefined, root);
      const run = async () => {
        const r = await runPipeline(f.ks, loaded.pipeline, {
          module: { path: loaded.module, exportName: loaded.exportName },
          codeRoot: root,
        });
        expect(r.outputs).toEqual({ a: 5, b: 50 });
      };
      await run();
      expect(stores()).toBe(1);
      const derived = keyDerivations();
      const clients = s3ClientsMade();
      await run();
      await run();
      // The client in this process shares the memo: neither side derives or connects again.
      expect(keyDerivations() - derived).toBe(0);
      expect(s3ClientsMade() - clients).toBe(0);
      expect(stores()).toBe(1);
      // Another snapshot (the stack changed): another hash, so the worker builds it afresh.
      updateComponent(f.ks, 'orchestrator', 'bq', { backoff_ms: 150 });
      await run();
      expect(stores()).toBe(2);
    } finally {
      await w.close();
    }
    expect(stores()).toBe(0);
  }, 120_000);
});
