#!/usr/bin/env node
'use strict';
// Compiling the CLI bundle is a large part of every call's start-up (docs/benchmarks.md), so a V8
// code cache is turned on before the bundle is loaded: Node's compile cache on Node 22+, keystack's
// own code cache for the bundle on Node 20. Plain CommonJS, no TypeScript: this file runs before
// anything is compiled.

// `keystack --version` alone needs nothing of the CLI: printed from here, it starts like node.
const versionOnly = process.argv.length === 3 && (process.argv[2] === '--version' || process.argv[2] === '-V');
// The cache's rules are shared with the step children (src/support/compile-cache.ts). On Node 20
// the bundle's import() calls come to this file's, which works where the bundle's own cannot.
if (!(versionOnly && printVersion()))
  require('../dist/compile-cache.cjs').requireCached(
    require('node:path').join(__dirname, '..', 'dist', 'cli.cjs'),
    (specifier, options) => import(specifier, options),
  );

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
