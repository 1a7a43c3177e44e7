#!/usr/bin/env node
'use strict';
// Compiling the CLI bundle is a large part of every call's start-up (docs/benchmarks.md), so a V8
// code cache is turned on before the bundle is loaded. Plain CommonJS, no TypeScript: this file
// runs before anything is compiled.
const { enableCompileCache } = require('node:module');

// `keystack --version` alone needs nothing of the CLI: printed from here, it starts like node.
const versionOnly = process.argv.length === 3 && (process.argv[2] === '--version' || process.argv[2] === '-V');
if (!(versionOnly && printVersion())) {
  const dir = typeof enableCompileCache === 'function' ? compileCacheDir() : undefined;
  if (dir) enableCompileCache(dir);
  require('../dist/cli.cjs');
}

/**
 * Writes the version as commander would (`0.1.0` and a newline); false if it could not be written
 * at once (a non-blocking pipe that is full), for the CLI to do it and report what fails. The write
 * is one call of a few bytes, so nothing is written twice.
 */
function printVersion() {
  try {
    require('node:fs').writeSync(1, `${require('../package.json').version}\n`);
    return true;
  } catch {
    return false;
  }
}

/**
 * The cache's directory, or undefined for none: $XDG_CACHE_HOME/keystack/compile-cache (else
 * ~/.cache/…), created private (0700). The cache holds code V8 runs as keystack, so it is used
 * only if it is the user's own and private, and only for a bundle that no other user can replace
 * (DESIGN §12): stat calls only, and any doubt means no cache, never an error.
 */
function compileCacheDir() {
  try {
    if (process.env.NODE_DISABLE_COMPILE_CACHE || typeof process.getuid !== 'function') return undefined;
    const { lstatSync, mkdirSync, realpathSync } = require('node:fs');
    const { dirname, join } = require('node:path');
    const uid = process.getuid();
    // The real path, as the loader follows links: each directory above the bundle.
    for (let d = realpathSync(join(__dirname, '..', 'dist')); ; d = dirname(d)) {
      const s = lstatSync(d);
      if ((s.uid !== uid && s.uid !== 0) || ((s.mode & 0o022) !== 0 && (s.mode & 0o1000) === 0)) return undefined;
      if (dirname(d) === d) break;
    }
    const home = process.env.HOME;
    const base = process.env.XDG_CACHE_HOME || (home ? join(home, '.cache') : undefined);
    if (!base) return undefined;
    const dir = join(base, 'keystack', 'compile-cache');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const d of [dir, dirname(dir)]) {
      const s = lstatSync(d);
      if (!s.isDirectory() || s.uid !== uid || (s.mode & 0o077) !== 0) return undefined;
    }
    return dir;
  } catch {
    return undefined;
  }
}
