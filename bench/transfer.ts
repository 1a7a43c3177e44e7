/**
 * `keystack secret copy` of N secrets (default 100) from aws (moto) to vault (OpenBao): backend
 * requests per secret, counted by proxies in front of both servers, and wall time against the
 * shell loop a user would write without it (`secret get --key` + `secret register` per secret),
 * in the same run.
 *   AWS_SM_ENDPOINT=… BAO_ADDR=… BAO_TOKEN=… npx tsx bench/transfer.ts
 * Prints a markdown table.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { countingProxy } from './count-proxy.js';

const N = Number(process.env['BENCH_COPY_SECRETS'] ?? 100);
const awsTarget = process.env['AWS_SM_ENDPOINT'];
const baoTarget = process.env['BAO_ADDR'];
const token = process.env['BAO_TOKEN'] ?? process.env['VAULT_TOKEN'];
if (!awsTarget || !baoTarget || !token)
  throw new Error('set AWS_SM_ENDPOINT, BAO_ADDR and BAO_TOKEN (scripts/emulators/start.sh writes them)');

const BIN = resolve('bin/keystack.cjs');
const awsProxy = await countingProxy(awsTarget);
const baoProxy = await countingProxy(baoTarget);
const root = mkdtempSync(join(tmpdir(), 'ks-bench-copy-'));
const base = {
  PATH: process.env['PATH'] ?? '/usr/bin:/bin',
  HOME: root,
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  VAULT_TOKEN: token,
};
// Two config dirs for the shell loop, whose `secret get` and `secret register` act on the active
// stack: one with the aws manager active, one with a vault manager active.
const cfg = { KEYSTACK_CONFIG_DIR: join(root, 'cfg') };

/** Runs a process without blocking this one, whose event loop serves the counting proxies. */
const run = (cmd: string, args: string[], env: Record<string, string>): Promise<string> =>
  new Promise((res, rej) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) =>
      code === 0 ? res(out) : rej(new Error(`${cmd} ${args.slice(0, 4).join(' ')} failed: ${err}`)),
    );
  });
const ks = (env: Record<string, string>, ...args: string[]) =>
  run(process.execPath, [BIN, ...args], { ...base, ...env });

await ks(
  cfg,
  'secrets-manager',
  'register',
  'src',
  '--flavor=aws',
  '--region_name=us-east-1',
  `--endpoint_url=${awsProxy.url}`,
);
await ks(cfg, 'secrets-manager', 'register', 'dst', '--flavor=vault', `--url=${baoProxy.url}`);
await ks(cfg, 'secrets-manager', 'register', 'loop_dst', '--flavor=vault', `--url=${baoProxy.url}`);
await ks(cfg, 'stack', 'register', 'src_stack', '-x', 'src', '--set');
const file = join(root, 'in.json');
writeFileSync(
  file,
  JSON.stringify(
    Object.fromEntries(
      Array.from({ length: N }, (_, i) => [
        `s${String(i).padStart(3, '0')}`,
        { password: `pw-${i}-${'x'.repeat(24)}` },
      ]),
    ),
  ),
);
await ks(cfg, 'import', file);
// The loop's second config dir: the same managers (same UUIDs, so the same scopes), vault active.
const loopCfg = { KEYSTACK_CONFIG_DIR: join(root, 'cfg-loop') };
const uuid = async (name: string) =>
  (JSON.parse(await ks(cfg, '--json', 'secrets-manager', 'describe', name)) as { id: string }).id;
await ks(
  loopCfg,
  'secrets-manager',
  'register',
  'src',
  '--flavor=aws',
  '--region_name=us-east-1',
  `--endpoint_url=${awsProxy.url}`,
  `--uuid=${await uuid('src')}`,
);
await ks(
  loopCfg,
  'secrets-manager',
  'register',
  'loop_dst',
  '--flavor=vault',
  `--url=${baoProxy.url}`,
  `--uuid=${await uuid('loop_dst')}`,
);
await ks(loopCfg, 'stack', 'register', 'dst_stack', '-x', 'loop_dst', '--set');

interface Run {
  ms: number;
  aws: number;
  vault: number;
}

const measure = async (fn: () => Promise<unknown>): Promise<Run> => {
  awsProxy.reset();
  baoProxy.reset();
  const t = performance.now();
  await fn();
  return { ms: performance.now() - t, aws: awsProxy.count, vault: baoProxy.count };
};

const copy = await measure(() => ks(cfg, 'secret', 'copy', '--from', 'src', '--to', 'dst', '--all'));
const names = Array.from({ length: N }, (_, i) => `s${String(i).padStart(3, '0')}`);
const script = `set -eu
for n in ${names.join(' ')}; do
  v=$(KEYSTACK_CONFIG_DIR="$A" node "$BIN" secret get "$n" --key password)
  KEYSTACK_CONFIG_DIR="$B" node "$BIN" secret register "$n" --password="$v" >/dev/null
done`;
const loop = await measure(() =>
  run('bash', ['-c', script], { ...base, A: cfg.KEYSTACK_CONFIG_DIR, B: loopCfg.KEYSTACK_CONFIG_DIR, BIN }),
);
const rerun = await measure(() => ks(cfg, 'secret', 'copy', '--from', 'src', '--to', 'dst', '--all'));

const row = (label: string, r: Run) =>
  `| ${label} | ${(r.ms / 1000).toFixed(2)} | ${(r.ms / loop.ms).toFixed(3)} | ${r.aws} (${(r.aws / N).toFixed(2)}) | ${r.vault} (${(r.vault / N).toFixed(2)}) | ${((r.aws + r.vault) / N).toFixed(2)} |`;
console.log(`\n## secret copy of ${N} secrets, aws (moto) -> vault (OpenBao), Node ${process.version}\n`);
console.log(
  '| run | wall s | × shell loop | aws requests (per secret) | vault requests (per secret) | requests per secret |\n|---|---:|---:|---:|---:|---:|',
);
console.log(row('keystack secret copy --all', copy));
console.log(row('shell loop: secret get --key + secret register', loop));
console.log(row('secret copy --all again (all unchanged)', rerun));
await Promise.all([awsProxy.close(), baoProxy.close()]);
