// `node bench/cli-startup.mjs [RUNS]` (also `npm run bench`, through bench/run.mjs `startup`): the
// CLI's start-up against `node -e 0` in the same run, with the node that runs this script (run it
// under another Node with `bash scripts/with-node.sh 24 node bench/cli-startup.mjs`). Prints
// interleaved medians, their ratios, and how many modules each case loads, which does not depend
// on how busy the machine is; passes or fails nothing. Needs `npm run build` first.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

const RUNS = Number(process.argv[2] ?? process.env.BENCH_RUNS ?? 21);
const root = resolve('.');
const bin = resolve('bin/keystack.cjs');
const scratch = mkdtempSync(join(tmpdir(), 'ks-bench-startup-'));
// Its own cache directory, so that the first runs below fill the compile cache as a user's first
// calls would, and the timed runs see it warm as every later call does.
const env = {
  PATH: process.env.PATH,
  KEYSTACK_CONFIG_DIR: join(scratch, 'cfg'),
  XDG_CACHE_HOME: join(scratch, 'cache'),
};
// CPU of the children this process has waited for (Linux: cutime + cstime in /proc/self/stat, in
// clock ticks of 10 ms), which a busy machine inflates far less than wall-clock time. One run is
// below the resolution; the sum over all runs of a case is not.
const childCpuMs = () => {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    return Number.NaN;
  }
};
const run = (argv, extra = []) => {
  const cpu = childCpuMs();
  const t = performance.now();
  // From the checkout, where the floor's require('better-sqlite3') resolves.
  const r = spawnSync(process.execPath, [...extra, ...argv], { env, cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
  return { ms, cpu: childCpuMs() - cpu, stderr: String(r.stderr) };
};
run([bin, 'secret', 'register', 'db', '--user=admin', '--password=bench-password']);

// Built-in modules (process.moduleLoadList: internal ones included) and files required from disk,
// counted at exit by a preloaded hook, in runs apart from the timed ones.
const counter = join(scratch, 'count.cjs');
writeFileSync(
  counter,
  `process.on('exit', () => require('node:fs').writeSync(2, '\\nLOADED ' + process.moduleLoadList.length + ' ' + Object.keys(require.cache).length + '\\n'));`,
);
const loaded = (argv) => {
  const m = /\nLOADED (\d+) (\d+)\n/.exec(run(argv, ['--require', counter]).stderr);
  // The hook's own file is one of the required files.
  return m ? { builtins: Number(m[1]), files: Number(m[2]) - 1 } : undefined;
};

// The floor of `secret get`: what it cannot do without (write to stdout, load node:crypto for
// AES-GCM, open SQLite through better-sqlite3's addon), with no keystack code at all.
const floor = `require('node:crypto').createDecipheriv; new (require('better-sqlite3'))(':memory:').close(); process.stdout.write('x\\n')`;
const cases = [
  ['node -e 0 (baseline)', ['-e', '0']],
  ['keystack --version', [bin, '--version']],
  ['keystack secret get db', [bin, 'secret', 'get', 'db']],
  ['floor of secret get: node -e (stdout + crypto + better-sqlite3)', ['-e', floor]],
];
const samples = cases.map(() => []);
const cpu = cases.map(() => 0);
// Warms the page cache and the compile cache.
for (let i = 0; i < 3; i++) for (const [, a] of cases) run(a);
const load = loadavg()[0];
for (let i = 0; i < RUNS; i++)
  cases.forEach(([, a], j) => {
    const r = run(a);
    samples[j].push(r.ms);
    cpu[j] += r.cpu;
  });
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const base = median(samples[0]);
console.log(
  `\n## CLI start-up (median of ${RUNS} interleaved runs, Node ${process.version}, load average ${load.toFixed(2)})\n`,
);
console.log(
  '| command | median ms | × node -e 0 | mean CPU ms | CPU × node -e 0 | built-in modules | files required |\n|---|---:|---:|---:|---:|---:|---:|',
);
cases.forEach(([label, a], j) => {
  const n = loaded(a);
  const m = median(samples[j]);
  console.log(
    `| ${label} | ${m.toFixed(1)} | ${(m / base).toFixed(2)} | ${(cpu[j] / RUNS).toFixed(1)} | ${(cpu[j] / cpu[0]).toFixed(2)} | ${n?.builtins ?? '?'} | ${n?.files ?? '?'} |`,
  );
});
console.log(
  '\nTarget (issue 22, 7): `secret get` and `--version` at most 1.30× `node -e 0`. CPU is of the child processes (user + system).',
);
