// The path trust checks that one `keystack secret get` makes (config dir, config.db and its WAL
// files, store dir, key file, store and its WAL files), against the bare stat calls on the same
// paths, measured in the same run. Prints figures, passes or fails nothing.
// Run: node --import tsx bench/trust-checks.ts
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkTrustedDir, checkTrustedFile, readTrustedSecretFile } from '../src/support/trust.js';

const cfg = mkdtempSync(join(tmpdir(), 'ks-bench-trust-'));
const stores = join(cfg, 'local_stores');
mkdirSync(stores, { mode: 0o700 });
writeFileSync(join(cfg, 'config.db'), 'x', { mode: 0o600 });
writeFileSync(join(stores, 'secrets.db'), 'x', { mode: 0o600 });
writeFileSync(join(stores, 'secrets.db.key'), 'k'.repeat(32), { mode: 0o600 });
const companions = (f: string) => ['-wal', '-shm', '-journal'].map((s) => f + s);
const files = [
  join(cfg, 'config.db'),
  ...companions(join(cfg, 'config.db')),
  join(stores, 'secrets.db'),
  ...companions(join(stores, 'secrets.db')),
];

const checks = () => {
  checkTrustedDir(cfg);
  checkTrustedDir(stores);
  for (const f of files) checkTrustedFile(f);
  checkTrustedFile(join(stores, 'secrets.db.key'), { secret: true });
  readTrustedSecretFile(join(stores, 'secrets.db.key'));
};
const bare = () => {
  for (const p of [cfg, stores, ...files, join(stores, 'secrets.db.key'), join(stores, 'secrets.db.key')])
    statSync(p, { throwIfNoEntry: false });
};

const perCall = (fn: () => void, n = 5000) => {
  for (let i = 0; i < 200; i++) fn();
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - t) / n / 1e3;
};
const b = perCall(bare);
const c = perCall(checks);
console.log(
  `trust checks of one secret get: ${c.toFixed(1)} µs; the same ${files.length + 4} bare stat calls: ${b.toFixed(1)} µs (${(c / b).toFixed(2)}×)`,
);
