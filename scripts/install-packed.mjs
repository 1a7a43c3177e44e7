#!/usr/bin/env node
// `node scripts/install-packed.mjs DIR`: packs this checkout (`npm pack`, what a publish ships) and
// installs the tarball into DIR as `npm install keystack` would, with tsx and the esbuild binary it
// needs at the versions installed here. Scripts are skipped (the better-sqlite3 addon would be
// compiled: minutes on two cores; test/docs/own-project.test.ts copies this checkout's in) and so
// are optional packages (the cloud SDKs).
//
// From npm's cache where it can (`--offline`), else from the registry (`--prefer-offline`, no
// retries). scripts/test.sh runs it once into a scratch folder before it enters the loopback-only
// namespace: `npm ci` caches package tarballs but not the package documents an install resolves
// ranges with, so on a fresh machine the test's own install, in the namespace, would find the
// cache incomplete and the registry out of reach.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node scripts/install-packed.mjs DIR');
  process.exit(2);
}
const root = resolve(new URL('..', import.meta.url).pathname);
const packDir = mkdtempSync(join(tmpdir(), 'keystack-pack-'));
try {
  const pack = spawnSync('npm', ['pack', '--silent', '--pack-destination', packDir], { cwd: root, encoding: 'utf8' });
  if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  const tarball = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack wrote no tarball');
  const version = (pkg) => JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  const esbuildBinary = `@esbuild/${process.platform}-${process.arch}`;
  const args = [
    'install',
    '--ignore-scripts',
    '--omit=optional',
    '--no-audit',
    '--no-fund',
    join(packDir, tarball),
    `tsx@${version('tsx')}`,
    `${esbuildBinary}@${version(esbuildBinary)}`,
  ];
  const npm = (...modes) => spawnSync('npm', [...modes, ...args], { cwd: dir, encoding: 'utf8', timeout: 300_000 });
  let r = npm('--offline');
  if (r.status !== 0) r = npm('--prefer-offline', '--fetch-retries=0');
  if (r.status !== 0) throw new Error(`npm install of the packed keystack failed: ${r.stderr || r.error}`);
} catch (e) {
  console.error(`install-packed: ${e instanceof Error ? e.message : e}`);
  process.exitCode = 1;
} finally {
  rmSync(packDir, { recursive: true, force: true });
}
