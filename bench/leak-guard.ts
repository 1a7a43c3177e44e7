/**
 * The price of the leak guard (`node bench/run.mjs leak-guard`): checking a step's output against
 * every value delivered to the run, against writing the same output to the local artifact store
 * (sealed, as a store with an `encryption_key` does, and unsealed), in the same run. Prints
 * markdown: per output and number of delivered values, the patterns, bytes scanned, guard ms
 * against write ms (and their ratio), and guard CPU ms per MB. The matcher's build, once per run
 * and whenever new values arrive, is shown apart.
 *
 * The runner encodes an output once: the guard scans those bytes and the store writes them. So
 * the guard here is given the encoding, and the write (which encodes for itself) includes it. The
 * last column is the guard's fallback for an output JSON cannot hold, which gathers every field.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeArtifact } from '../src/pipeline/artifact-store.js';
import { openArtifactStore } from '../src/pipeline/artifacts.js';
import { LeakGuard } from '../src/pipeline/leak-guard.js';
import { updateComponent } from '../src/stack/component-ops.js';
import { Keystack } from '../src/stack/client.js';
import { StackRuntime } from '../src/stack/runtime.js';
import type { DeliveredValue } from '../src/stack/references.js';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 7);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function delivered(secrets: number): DeliveredValue[] {
  const out: DeliveredValue[] = [];
  for (let i = 0; i < secrets; i++) {
    out.push({ secret: `s${i}`, key: 'token', value: randomBytes(18).toString('base64url') });
    out.push({ secret: `s${i}`, key: 'password', value: `pw-${randomBytes(9).toString('hex')}` });
    out.push({ secret: `s${i}`, key: 'user', value: `user-${i}-${randomBytes(3).toString('hex')}` });
  }
  return out;
}

/** A step's metrics and config: about 0.6 MB of nested JSON with many short strings. */
function jsonOutput(): unknown {
  const rows = [];
  for (let i = 0; i < 6000; i++)
    rows.push({ epoch: i, loss: Math.random(), tag: `run-${i % 97}`, note: `checkpoint saved at step ${i * 100}` });
  return { config: { lr: 0.001, layers: [64, 128, 256], name: 'resnet' }, history: rows };
}

/** A model file carried in base64 (10 MB of bytes). */
function blobOutput(): unknown {
  return { model: randomBytes(10 * 1024 * 1024).toString('base64'), format: 'safetensors' };
}

const configDir = mkdtempSync(join(tmpdir(), 'ks-bench-guard-'));
const ks = new Keystack({ configDir, env: {} });
await (await ks.secretsManager()).register('art', { key: 'bench-artifact-passphrase' });
const plain = await openArtifactStore((await StackRuntime.load(ks)).artifactStore, { configDir, env: {} });
updateComponent(ks, 'artifact_store', 'default', { encryption_key: '{{art.key}}' });
const sealed = await openArtifactStore((await StackRuntime.load(ks)).artifactStore, { configDir, env: {} });

console.log(`\n## Leak guard against writing the output (median of ${RUNS}, Node ${process.version}, one core)\n`);
console.log(
  '| output | delivered values | patterns | MB scanned | guard ms | write ms (unsealed) | write ms (sealed) | guard / sealed write | guard / unsealed write | guard CPU ms per MB | matcher build ms | guard ms, field by field |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const [label, make] of [
  ['metrics JSON (0.6 MB, 6,000 rows)', jsonOutput],
  ['10 MB model in base64', blobOutput],
] as const) {
  const output = make();
  for (const secrets of [10, 1000]) {
    const values = delivered(secrets);
    const source = { delivered: () => values, deliveredCount: values.length };
    const guard = new LeakGuard(source);
    const b0 = performance.now();
    guard.matcher();
    const buildMs = performance.now() - b0;
    const guardMs: number[] = [];
    const guardCpu: number[] = [];
    const plainMs: number[] = [];
    const sealedMs: number[] = [];
    const fieldMs: number[] = [];
    let bytes = 0;
    const stored = encodeArtifact(output).json;
    // Warm up (JIT, page cache) untimed.
    guard.check({ stepName: 'bench', output, stored });
    guard.check({ stepName: 'bench', output });
    await sealed.write(`bench/warm-${secrets}.json`, output);
    for (let i = 0; i < RUNS; i++) {
      const before = guard.stats.bytesScanned;
      const c0 = cpu();
      const t0 = performance.now();
      if (guard.check({ stepName: 'bench', output, stored }) !== undefined) throw new Error('a false positive');
      guardMs.push(performance.now() - t0);
      guardCpu.push(cpu() - c0);
      bytes = guard.stats.bytesScanned - before;
      const t3 = performance.now();
      if (guard.check({ stepName: 'bench', output }) !== undefined) throw new Error('a false positive');
      fieldMs.push(performance.now() - t3);
      const t1 = performance.now();
      await plain.write(`bench/${secrets}-${i}.json`, output);
      plainMs.push(performance.now() - t1);
      const t2 = performance.now();
      await sealed.write(`bench/${secrets}-${i}.json`, output);
      sealedMs.push(performance.now() - t2);
    }
    const mb = bytes / 1024 / 1024;
    const g = median(guardMs);
    console.log(
      `| ${label} | ${values.length} | ${guard.stats.patterns} | ${mb.toFixed(1)} | ${g.toFixed(1)} | ${median(plainMs).toFixed(1)} | ${median(sealedMs).toFixed(1)} | ${(g / median(sealedMs)).toFixed(2)} | ${(g / median(plainMs)).toFixed(2)} | ${(median(guardCpu) / mb).toFixed(1)} | ${buildMs.toFixed(1)} | ${median(fieldMs).toFixed(1)} |`,
    );
  }
}
await ks.close();
