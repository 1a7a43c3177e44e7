// `node bench/plugin-startup.mjs [RUNS]`: what a registered TypeScript schema module costs each
// command that loads it. Prints medians of `keystack schema list` with and without the module
// registered, against `node -e 0` measured in the same run; passes or fails nothing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

const RUNS = Number(process.argv[2] ?? 15);
const bin = resolve('bin/keystack.cjs');
const dir = (name) => join(mkdtempSync(join(tmpdir(), 'ks-bench-plugin-')), name);
const plain = { PATH: process.env.PATH, KEYSTACK_CONFIG_DIR: dir('plain') };
const withTs = { PATH: process.env.PATH, KEYSTACK_CONFIG_DIR: dir('ts') };
const run = (argv, env) => {
  const t = performance.now();
  const r = spawnSync(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
  return performance.now() - t;
};
run([bin, 'schema', 'register', resolve('examples/custom-schema/schemas.ts')], withTs);
run([bin, 'schema', 'list'], plain); // creates the store, outside the timings
const cases = [
  ['node -e 0 (baseline)', ['-e', '0'], plain],
  ['keystack schema list (no module registered)', [bin, 'schema', 'list'], plain],
  ['keystack schema list (schemas.ts registered)', [bin, 'schema', 'list'], withTs],
];
const times = cases.map(() => []);
// Interleaved, so that a busy machine slows every case alike.
for (let i = 0; i < RUNS; i++) cases.forEach(([, argv, env], j) => times[j].push(run(argv, env)));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const base = median(times[0]);
for (const [j, [name]] of cases.entries()) {
  const m = median(times[j]);
  console.log(`${name.padEnd(48)} median ${m.toFixed(0).padStart(5)} ms  (${(m / base).toFixed(1)}× node -e 0)`);
}
