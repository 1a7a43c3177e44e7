/**
 * Backend requests made by `keystack run -s s1 … -s sk -- node -e 0` against OpenBao, counted by
 * a proxy in front of it: the goal is k reads, one per secret, and nothing else.
 *   BAO_ADDR=http://127.0.0.1:8200 BAO_TOKEN=root npx tsx bench/calls-run.ts
 * Prints one JSON line.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keystack } from '../src/stack/client.js';
import { countingProxy } from './count-proxy.js';

const addr = process.env['BAO_ADDR'];
const token = process.env['BAO_TOKEN'] ?? process.env['VAULT_TOKEN'];
if (!addr || !token)
  throw new Error('set BAO_ADDR and BAO_TOKEN to an OpenBao dev server (scripts/emulators/start.sh writes them)');
const proxy = await countingProxy(addr);
const configDir = join(mkdtempSync(join(tmpdir(), 'ks-bench-run-')), 'cfg');
const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', KEYSTACK_CONFIG_DIR: configDir, VAULT_TOKEN: token };
const ks = new Keystack({ configDir, env });
await ks.registerSecretsManager({ name: 'v', flavor: 'vault', config: { url: proxy.url, scope: 'component' } });
const sm = await ks.secretsManager('v');
const ks_ = [1, 5, 20];
const max = Math.max(...ks_);
for (let i = 0; i < max; i++)
  await sm.register(`s${i}`, { user: `u${i}`, password: `password-${i}-${'x'.repeat(16)}` });

const rows: { k: number; requests: number }[] = [];
for (const k of ks_) {
  const args = Array.from({ length: k }, (_, i) => ['-s', `s${i}`]).flat();
  proxy.reset();
  // Not spawnSync: the proxy lives in this process and must keep answering.
  const p = spawn(
    process.execPath,
    ['bin/keystack.cjs', 'run', '-m', 'v', ...args, '--', process.execPath, '-e', '0'],
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const status = await new Promise<number | null>((res) => p.on('close', res));
  if (status !== 0) throw new Error(`keystack run failed: ${stderr}`);
  rows.push({ k, requests: proxy.count });
}
await sm.deleteAll();
await ks.close();
await proxy.close();
console.log(JSON.stringify({ rows }));
