// `npm run bench`: prints figures, passes or fails nothing. Every figure is a ratio against a
// baseline measured in the same run (rule 5): CLI latency against `node -e 0`, store operations
// against the same operation on the smallest store, backend calls against ZenML 0.30's count.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Keystack } from '../dist/lib/index.js';

const args = process.argv.slice(2);
const only = (name) => args.length === 0 || args.includes(name);
const RUNS = Number(process.env.BENCH_RUNS ?? 21);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const time = (cmd, argv, env) => {
  const t = performance.now();
  const r = spawnSync(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
  return ms;
};

if (only('cli')) {
  const configDir = join(mkdtempSync(join(tmpdir(), 'ks-bench-')), 'cfg');
  const env = { PATH: process.env.PATH, KEYSTACK_CONFIG_DIR: configDir };
  const bin = 'bin/keystack.cjs';
  time(process.execPath, [bin, 'secret', 'register', 'db', '--user=admin', '--password=bench-password'], env);
  const cases = [
    ['node -e 0 (baseline)', ['-e', '0']],
    ['keystack secret get db', [bin, 'secret', 'get', 'db']],
    ['keystack secret get db --key password', [bin, 'secret', 'get', 'db', '--key', 'password']],
    ['keystack secret list', [bin, 'secret', 'list']],
    ['keystack --help', [bin, '--help']],
    ['keystack run -s db -- node -e 0', [bin, 'run', '-s', 'db', '--', process.execPath, '-e', '0']],
    [
      'keystack run --no-mask -s db -- node -e 0',
      [bin, 'run', '--no-mask', '-s', 'db', '--', process.execPath, '-e', '0'],
    ],
    // keystack's own part of `run`: a child that costs next to nothing.
    ['keystack run -s db -- true', [bin, 'run', '-s', 'db', '--', 'true']],
  ];
  // Interleave the cases so that machine noise hits all of them alike.
  const samples = cases.map(() => []);
  for (let i = 0; i < 2; i++) for (const [, a] of cases) time(process.execPath, a, env); // warm the page cache
  for (let i = 0; i < RUNS; i++) cases.forEach(([, a], j) => samples[j].push(time(process.execPath, a, env)));
  const base = median(samples[0]);
  console.log(`\n## CLI latency (median of ${RUNS} runs, Node ${process.version})\n`);
  console.log('| command | median ms | × node -e 0 |\n|---|---:|---:|');
  cases.forEach(([label], j) =>
    console.log(`| ${label} | ${median(samples[j]).toFixed(1)} | ${(median(samples[j]) / base).toFixed(2)} |`),
  );
  // The goal for `run`: no more than one `secret get` plus the child's own start.
  const at = (label) => median(samples[cases.findIndex(([l]) => l === label)]);
  const budget = at('keystack secret get db') + base;
  console.log(
    `\n\`keystack run -s db -- node -e 0\` against \`secret get db\` + \`node -e 0\` (${budget.toFixed(1)} ms): ` +
      `${(at('keystack run -s db -- node -e 0') / budget).toFixed(2)}× masked, ${(at('keystack run --no-mask -s db -- node -e 0') / budget).toFixed(2)}× with --no-mask; ` +
      `\`keystack run -s db -- true\` is ${(at('keystack run -s db -- true') / at('keystack secret get db')).toFixed(2)}× \`secret get db\``,
  );
}

// Start-up of `--version` and `secret get` against `node -e 0`, with CPU and module counts
// (bench/cli-startup.mjs; issue 22, target 7).
if (only('startup')) {
  const r = spawnSync(process.execPath, ['bench/cli-startup.mjs', String(RUNS)], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('bench/cli-startup.mjs failed');
}

if (only('store')) {
  const sizes = (process.env.BENCH_SIZES ?? '100,1000,10000,100000').split(',').map(Number);
  const configDir = join(mkdtempSync(join(tmpdir(), 'ks-scale-')), 'cfg');
  const ks = new Keystack({ configDir, env: {} });
  const sm = await ks.secretsManager();
  const value = { user: 'svc', password: 'p'.repeat(32), host: 'db.internal' };
  let count = 0;
  const rows = [];
  for (const size of sizes) {
    while (count < size - 100) await sm.register(`s${count++}`, value);
    // Time the last 100 registers that bring the store to `size`.
    let t = performance.now();
    while (count < size) await sm.register(`s${count++}`, value);
    const register = (performance.now() - t) / 100;
    const picks = Array.from({ length: 500 }, () => `s${Math.floor(Math.random() * size)}`);
    t = performance.now();
    for (const n of picks) await sm.get(n);
    const get = (performance.now() - t) / picks.length;
    t = performance.now();
    const listed = await sm.list();
    const list = performance.now() - t;
    if (listed.length !== size) throw new Error(`listed ${listed.length}, expected ${size}`);
    rows.push({ size, register, get, list });
  }
  await ks.close();
  const b = rows[0];
  console.log('\n## Local store scale (one process, in-library; ms per operation)\n');
  console.log('| secrets | register ms | get ms | get × at 100 | list ms (all names) |\n|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.size.toLocaleString('en')} | ${r.register.toFixed(3)} | ${r.get.toFixed(3)} | ${(r.get / b.get).toFixed(2)} | ${r.list.toFixed(1)} |`,
    );
  }
}

if (only('run-calls')) {
  // `keystack run` with k secrets against OpenBao, requests counted by a proxy in front of it.
  const r = spawnSync(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'bench/calls-run.ts'], {
    encoding: 'utf8',
    env: process.env,
    timeout: 300_000,
  });
  const line = (r.stdout ?? '')
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  if (r.status !== 0 || !line)
    console.log(
      `\n(calls-run.ts could not run: ${(r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' | ')})`,
    );
  else {
    const { rows } = JSON.parse(line);
    console.log(
      '\n## Backend calls for `keystack run` with k secrets (vault flavor, requests counted at a proxy in front of OpenBao)\n',
    );
    console.log('| k secrets | requests | per secret |\n|---:|---:|---:|');
    for (const x of rows) console.log(`| ${x.k} | ${x.requests} | ${(x.requests / x.k).toFixed(2)} |`);
  }
}

if (only('calls')) {
  // One script per remote flavor counts real requests against its emulator or double.
  const scripts = readdirSync('bench')
    .filter((f) => /^calls-.*\.ts$/.test(f))
    .sort();
  // ZenML 0.30's requests for the same operations, read off its code paths (reference §3):
  // pre-checks by listing, client-side scans, and first-page-only lists.
  const zenml = {
    aws: { register: 2, get: 2, update: 2, list_100: 1, list_250: 3, delete: 2 },
    vault: { register: 2, get: 1, update: 2, list_100: 1, list_250: 1, delete: '1 (never reports absence)' },
    gcp: { register: 3, get: 2, update: 2, list_100: 1, list_250: 3, delete: 2 },
    azure: {
      register: '2 + full vault scan',
      get: 1,
      update: '2 + full vault scan',
      list_100: 'full vault scan',
      list_250: 'full vault scan',
      delete: '1 + polling, no purge',
    },
    github: {
      register: 3,
      get: '0 (in Actions)',
      update: 'unsupported',
      list_100: 1,
      list_250: '1 (first 100 only)',
      delete: 1,
    },
  };

  const results = [];
  for (const s of scripts) {
    const r = spawnSync(process.execPath, ['node_modules/tsx/dist/cli.mjs', join('bench', s)], {
      encoding: 'utf8',
      env: process.env,
      timeout: 300_000,
    });
    const line = (r.stdout ?? '')
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .pop();
    if (r.status !== 0 || !line) {
      const why = (r.stderr || r.stdout || '')
        .trim()
        .split('\n')
        .filter((l) => /Error|error:/.test(l))
        .slice(0, 3)
        .join(' | ');
      console.log(`\n(${s} could not run: ${why || `exit ${r.status}`})`);
      continue;
    }
    results.push(JSON.parse(line));
  }
  if (results.length) {
    const ops = ['register', 'get', 'update', 'patch', 'list_100', 'list_250', 'delete'];
    console.log('\n## Backend calls per operation (counted requests; ZenML 0.30 counts from its code paths)\n');
    console.log(`| flavor | ${ops.join(' | ')} |\n|---|${ops.map(() => '---:').join('|')}|`);
    for (const r of results) {
      const z = zenml[r.flavor] ?? {};
      console.log(
        `| ${r.flavor} | ${ops.map((o) => (r[o] === undefined ? '–' : `${r[o]}${z[o] !== undefined ? ` (ZenML ${z[o]})` : ''}`)).join(' | ')} |`,
      );
    }
  }
}

if (only('remote')) {
  // Needs Redis, OpenBao and moto (started by scripts/bench.sh inside the namespace).
  if (!process.env.KEYSTACK_TEST_REDIS_URL)
    console.log('\n(remote stacks: no Redis (KEYSTACK_TEST_REDIS_URL); not measured)');
  else {
    const r = spawnSync(process.execPath, ['node_modules/tsx/dist/cli.mjs', join('bench', 'remote.ts')], {
      encoding: 'utf8',
      env: process.env,
      timeout: 600_000,
    });
    process.stdout.write(r.stdout ?? '');
    if (r.status !== 0)
      console.log(
        `\n(remote stacks could not run: ${
          (r.stderr || '')
            .trim()
            .split('\n')
            .filter((l) => /Error|error:/.test(l))
            .slice(0, 3)
            .join(' | ') || `exit ${r.status}`
        })`,
      );
  }
}

if (only('transfer')) {
  // `secret copy` against the shell loop it replaces, with requests counted at both servers.
  const r = spawnSync(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'bench/transfer.ts'], {
    encoding: 'utf8',
    env: process.env,
    timeout: 900_000,
  });
  if (r.status === 0) process.stdout.write(r.stdout);
  else
    console.log(
      `\n(bench/transfer.ts could not run: ${
        (r.stderr || '')
          .trim()
          .split('\n')
          .filter((l) => /Error|error:/.test(l))
          .slice(0, 3)
          .join(' | ') || `exit ${r.status}`
      })`,
    );
}

if (only('isolation')) {
  // The per-step price of a worker's process isolation: pre-forked step children against in-process.
  const r = spawnSync(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'bench/isolation.ts'], {
    stdio: ['ignore', 'inherit', 'pipe'],
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    console.log(`\n(bench/isolation.ts could not run: exit ${r.status}: ${(r.stderr || '').trim().split('\n')[0]})`);
  }
}

if (only('scan')) {
  // keystack scan: 1,000 secrets in every encoding over 64 MB, against grep -F -f in the same run.
  const r = spawnSync(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'bench/scan.ts'], {
    stdio: ['ignore', 'inherit', 'pipe'],
    encoding: 'utf8',
    timeout: 900_000,
  });
  if (r.status !== 0) {
    console.log(`\n(bench/scan.ts could not run: exit ${r.status}: ${(r.stderr || '').trim().split('\n')[0]})`);
  }
}

if (only('leak-guard')) {
  // The leak guard's check of a step's output, against writing that output to the artifact store.
  const r = spawnSync(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'bench/leak-guard.ts'], {
    stdio: ['ignore', 'inherit', 'pipe'],
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    console.log(`\n(bench/leak-guard.ts could not run: exit ${r.status}: ${(r.stderr || '').trim().split('\n')[0]})`);
  }
}

if (only('provenance')) {
  // The cost of a provenance record per secret read, against the read itself (local store, CPU time).
  const r = spawnSync(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'bench/provenance.ts'], {
    encoding: 'utf8',
    env: process.env,
    timeout: 900_000,
  });
  if (r.status === 0) process.stdout.write(r.stdout);
  else
    console.log(`\n(bench/provenance.ts could not run: exit ${r.status}: ${(r.stderr || '').trim().split('\n')[0]})`);
}

if (only('mask-stream')) {
  // `run --mask`'s stream (dist/lib/support/mask-stream.js) against a passthrough that only decodes
  // UTF-8, over 1 MB of log lines with N known values (one line in 500 prints one; and the same
  // lines without them), fed in pipe-sized chunks, one line per write, and one byte per write
  // (paced output; measured on 64 KiB, scaled). Held back: characters fed and not yet given back,
  // averaged over the writes, on the lines without values.
  const { MaskingStream } = await import('../dist/lib/support/mask-stream.js');
  const { Masker } = await import('../dist/lib/support/masking.js');
  const { StringDecoder } = await import('node:string_decoder');
  const { randomBytes } = await import('node:crypto');
  const MB = 1 << 20;
  const REPEAT = Number(process.env.BENCH_RUNS ?? 5);
  const log = (values, size) => {
    let s = '';
    for (let i = 0; s.length < size; i++) {
      const secret = values.length && i % 500 === 499 ? ` token=${values[Math.floor(i / 500) % values.length]}` : '';
      s += `2026-12-01T10:${String(i % 60).padStart(2, '0')}:07.${i % 1000}Z INFO step=${i} loss=${(1 / (i + 1)).toFixed(6)} shard=/data/part-${i % 97}.parquet${secret}\n`;
    }
    return Buffer.from(s.slice(0, size));
  };
  const chunks = (buf, size) => {
    if (size === 'line')
      return buf
        .toString()
        .split(/(?<=\n)/)
        .map((l) => Buffer.from(l));
    const out = [];
    for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
    return out;
  };
  const passthrough = (parts) => {
    const d = new StringDecoder('utf8');
    let out = '';
    for (const c of parts) out += d.write(c);
    return out + d.end();
  };
  const masked = (m, parts) => {
    const s = new MaskingStream(m);
    let out = '';
    let held = 0;
    let fed = 0;
    for (const c of parts) {
      out += s.push(c);
      fed += c.length;
      held += fed - out.length; // exact on text without values (what was fed and not yet given back)
    }
    return { out: out + s.flush(), heldPerPush: held / parts.length };
  };
  /** Median CPU and wall ms of `fn` over REPEAT runs, after one warm-up. */
  const cost = (fn) => {
    fn();
    const cpu = [];
    const wall = [];
    for (let i = 0; i < REPEAT; i++) {
      const c = process.cpuUsage();
      const t = performance.now();
      fn();
      wall.push(performance.now() - t);
      const d = process.cpuUsage(c);
      cpu.push((d.user + d.system) / 1000);
    }
    return { cpu: median(cpu), wall: median(wall) };
  };
  console.log(
    `\n## Masking stream (\`run --mask\`), ms per MB of output (median of ${REPEAT}, Node ${process.version})\n`,
  );
  console.log(
    '| values | writes | passthrough CPU ms | masked CPU ms | × passthrough | masked wall ms | masked CPU ms, no value in the text | × passthrough | held back after a write (chars) |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const n of [10, 200]) {
    const values = Array.from({ length: n }, () => randomBytes(24).toString('base64'));
    const m = new Masker();
    m.add(values);
    m.mask('warm-up'); // builds the forms once, as the first masked output of a run does
    for (const [label, size, bytes] of [
      ['64 KiB chunks', 65536, MB],
      ['one line each', 'line', MB],
      ['one byte each', 1, 64 * 1024],
    ]) {
      const text = chunks(log(values, bytes), size);
      const plain = chunks(log([], bytes), size);
      const got = masked(m, text).out;
      if (values.some((v) => got.includes(v)) || !got.includes('***'))
        throw new Error('mask-stream bench: the stream did not mask');
      const scale = MB / bytes;
      const base = cost(() => passthrough(text));
      const mask = cost(() => masked(m, text));
      const clean = cost(() => masked(m, plain));
      const held = masked(m, plain).heldPerPush;
      const ms = (x) => (x * scale).toFixed(1);
      console.log(
        `| ${n} | ${label}${scale > 1 ? ` (${bytes / 1024} KiB, ×${scale})` : ''} | ${ms(base.cpu)} | ${ms(mask.cpu)} | ${(mask.cpu / base.cpu).toFixed(1)} | ${ms(mask.wall)} | ${ms(clean.cpu)} | ${(clean.cpu / base.cpu).toFixed(1)} | ${held.toFixed(2)} |`,
      );
    }
  }
}
