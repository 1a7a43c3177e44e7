/**
 * `keystack scan`'s speed (`node bench/run.mjs scan`): 1,000 secrets in every form the leak guard
 * knows, over a generated tree of logs, JSON and notebooks-like text with a few leaks in it, on
 * one core, against `LC_ALL=C grep -F -f` over the same patterns and files in the same run (the
 * issue's target: at least 2x grep). Prints markdown: patterns, files, bytes, hits, MB/s of each.
 *
 * A multi-line value's whole form cannot be a `grep -f` pattern (one pattern per line); grep gets
 * its lines instead, which are the value's `line` forms anyway.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { scanPatterns, scanSources, walkSources, type ScanValue } from '../src/process/scan/index.js';
import { leakForms } from '../src/support/leak-match.js';

const SECRETS = Number(process.env['BENCH_SCAN_SECRETS'] ?? 1000);
const MB = Number(process.env['BENCH_SCAN_MB'] ?? 64);
const FILES = Number(process.env['BENCH_SCAN_FILES'] ?? 64);
const RUNS = 3;

// Characters that JSON, URL and base64 write differently, so that every encoding is a pattern.
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789-_+/=?&"\\';
function secretValue(i: number): string {
  const bytes = randomBytes(40);
  const s = [...bytes].map((b) => ALPHABET[b % ALPHABET.length]).join('');
  const len = 20 + (i % 21);
  // One in ten is a two-line value (a key file), for the per-line forms.
  return i % 10 === 0 ? `${s.slice(0, 16)}\n${s.slice(16, len + 16)}` : s.slice(0, len);
}

const values: ScanValue[] = Array.from({ length: SECRETS }, (_, i) => ({
  manager: 'bench',
  secret: `secret_${i}`,
  key: 'value',
  value: secretValue(i),
}));
const { matcher } = scanPatterns(values);
const forms = values.flatMap((v) => leakForms(v.value).map((f) => f.form));
const grepPatterns = [...new Set(forms.flatMap((f) => f.split(/\r\n|\r|\n/)).filter((f) => f.length > 0))];

// Text shaped like what scan reads: log lines, JSON, base64 and hex blobs, words.
const WORDS =
  'epoch loss accuracy learning_rate batch step INFO DEBUG WARN model tokenizer checkpoint saved loading dataset train eval val params tags metrics artifact run_id experiment gpu cuda memory'.split(
    ' ',
  );
function chunk(bytes: number, leaks: string[]): string {
  const parts: string[] = [];
  let size = 0;
  let n = 0;
  while (size < bytes) {
    const r = randomBytes(24);
    const w = (k: number) => WORDS[(r[k] ?? 0) % WORDS.length] ?? '';
    let line: string;
    switch (n++ % 5) {
      case 0:
        line = `2026-12-07T10:${String(n % 60).padStart(2, '0')}:00Z ${w(0)} ${w(1)}=${(r[2] ?? 0) / 255} ${w(3)} ${w(4)}`;
        break;
      case 1:
        line = `{"${w(0)}": "${r.toString('base64')}", "${w(1)}": ${r[5] ?? 0}, "${w(2)}": "${r.subarray(0, 8).toString('hex')}"}`;
        break;
      case 2:
        line = `  "${w(0)}_${w(1)}": [${[...r.subarray(0, 6)].join(', ')}],`;
        break;
      case 3:
        line = `${w(0)} ${w(1)} ${w(2)} ${w(3)} ${w(4)} ${w(5)} ${w(6)} ${w(7)}`;
        break;
      default:
        line = `url=https://example.org/${w(0)}?q=${encodeURIComponent(r.toString('base64'))}`;
    }
    parts.push(line);
    size += line.length + 1;
  }
  // A few leaks per file, at random lines.
  for (const leak of leaks) parts.splice(Math.floor(Math.random() * parts.length), 0, `token=${leak}`);
  return parts.join('\n') + '\n';
}

const root = mkdtempSync(join(tmpdir(), 'ks-bench-scan-'));
const patternsFile = join(root, 'patterns.txt');
writeFileSync(patternsFile, grepPatterns.join('\n') + '\n');
const tree = join(root, 'tree');
mkdirSync(tree);
let leaks = 0;
for (let i = 0; i < FILES; i++) {
  const dir = join(tree, `run-${i % 8}`);
  mkdirSync(dir, { recursive: true });
  const picked = [forms[(i * 37) % forms.length] ?? '', forms[(i * 101) % forms.length] ?? ''];
  leaks += picked.length;
  writeFileSync(join(dir, `out-${i}.log`), chunk(Math.floor((MB * 1024 * 1024) / FILES), picked));
}

function timed<T>(fn: () => T): { ms: number; cpuMs: number; value: T } {
  const c = process.cpuUsage();
  const t = performance.now();
  const value = fn();
  const ms = performance.now() - t;
  const u = process.cpuUsage(c);
  return { ms, cpuMs: (u.user + u.system) / 1000, value };
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;

const scanRuns: { ms: number; cpuMs: number }[] = [];
let found = 0;
let bytes = 0;
let files = 0;
for (let i = 0; i < RUNS; i++) {
  const r = timed(() => scanSources(walkSources([tree], { cwd: root }).sources, matcher));
  scanRuns.push(r);
  found = r.value.findings.length;
  bytes = r.value.bytes;
  files = r.value.files;
}
const grepRuns: number[] = [];
let grepLines = '';
for (let i = 0; i < RUNS; i++) {
  const t = performance.now();
  const g = spawnSync('grep', ['-F', '-r', '-c', '-f', patternsFile, tree], {
    env: { ...process.env, LC_ALL: 'C' },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  grepRuns.push(performance.now() - t);
  if (g.status !== 0 && g.status !== 1) throw new Error(`grep failed: ${g.stderr}`);
  grepLines = String(
    g.stdout
      .trim()
      .split('\n')
      .reduce((n, l) => n + Number(l.split(':').at(-1)), 0),
  );
}
rmSync(root, { recursive: true, force: true });

const mbps = (ms: number) => bytes / 1024 / 1024 / (ms / 1000);
const scanMs = median(scanRuns.map((r) => r.ms));
const grepMs = median(grepRuns);
console.log(
  `\n### keystack scan: ${SECRETS} secrets in every encoding, one core, against grep -F -f (median of ${RUNS})\n`,
);
console.log(
  `patterns: ${matcher.size} (grep: ${grepPatterns.length} lines); files: ${files}; bytes: ${bytes}; leaks written: ${leaks}\n`,
);
console.log('| matcher | MB/s | ms | CPU ms | found |');
console.log('|---|---:|---:|---:|---:|');
console.log(
  `| keystack scan (MultiMatcher, JS) | ${mbps(scanMs).toFixed(1)} | ${scanMs.toFixed(0)} | ${median(scanRuns.map((r) => r.cpuMs)).toFixed(0)} | ${found} findings |`,
);
console.log(
  `| LC_ALL=C grep -F -f -r -c | ${mbps(grepMs).toFixed(1)} | ${grepMs.toFixed(0)} | n/a | ${grepLines} lines |`,
);
console.log(`\nscan / grep: ${(grepMs / scanMs).toFixed(2)}x (target: at least 2x)`);
