// Two outputs: the library (tsc, ESM + .d.ts) and the CLI as one CommonJS bundle, because
// start-up time is dominated by module loading (DESIGN §11). Heavy packages stay external and
// are only required on the code paths that need them.
import { parse } from 'acorn';
import { simple } from 'acorn-walk';
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

// Several processes (test runs, developers) may build at once: overwrite in place, never delete
// dist wholesale, so a concurrent run never sees it missing. `--clean` starts from scratch.
if (process.argv.includes('--clean')) rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });

/**
 * commander requires child_process at load time for executable subcommands, which keystack does
 * not use, and tty, os, url and crypto are each needed by some commands only; loading them costs
 * every call several ms. Bundled code gets a stand-in that loads the real module on first use.
 */
function lazyBuiltins(names) {
  const filter = new RegExp(`^(node:)?(${names.join('|')})$`);
  return {
    name: 'lazy-builtins',
    setup(b) {
      b.onResolve({ filter }, (args) => {
        const name = args.path.replace(/^node:/, '');
        // The proxy's own require is the real module.
        return args.namespace === 'lazy-builtin'
          ? { path: `node:${name}`, external: true }
          : { path: name, namespace: 'lazy-builtin' };
      });
      // A getter per export, named at build time: ESM code importing it gets a namespace copy
      // (esbuild's __toESM) whose getters still load the module on first use only.
      b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, async (args) => ({
        contents: `let m; const load = () => (m ??= require('node:${args.path}'));
for (const k of ${JSON.stringify(Object.keys(await import(`node:${args.path}`)).filter((k) => k !== 'default'))})
  Object.defineProperty(exports, k, { enumerable: true, get: () => load()[k] });`,
        loader: 'js',
      }));
    },
  };
}

/**
 * better-sqlite3 (about 12 ms to load, DESIGN §11) is needed by the commands that open a store,
 * not by help, usage errors or `version`: the bundle gets a constructor that loads it on the first
 * `new Database(...)`, the one way keystack uses its value (src/support/sqlite.ts).
 */
function lazySqlite() {
  return {
    name: 'lazy-better-sqlite3',
    setup(b) {
      b.onResolve({ filter: /^better-sqlite3$/ }, (args) =>
        args.namespace === 'lazy-sqlite'
          ? { path: 'better-sqlite3', external: true }
          : { path: 'better-sqlite3', namespace: 'lazy-sqlite' },
      );
      b.onLoad({ filter: /.*/, namespace: 'lazy-sqlite' }, () => ({
        contents: `let m; module.exports = function Database(...args) { return new (m ??= require('better-sqlite3'))(...args); };`,
        loader: 'js',
      }));
    },
  };
}

/**
 * On Node 20, which has no compile cache, bin/keystack.cjs compiles a bundle through vm.Script with
 * V8's code cache (src/support/compile-cache.ts), and there an `import()` in code read from that
 * cache fails ("A dynamic import callback was not specified"). So each `import(…)` of a bundle
 * calls `__kimp(…)` instead: the loader's own `import()` when it passes one, else the native one
 * (the banner below). Found by parsing, not by text, so that no string or comment is touched; the
 * name is as long as `import`, so the source map's columns still hold. The banner comes before
 * esbuild's "use strict", so it carries its own.
 */
const IMPORT_BANNER = `"use strict"; var __kimp = typeof __kimpHost === "function" ? __kimpHost : (s, o) => import(s, o);`;
function routeDynamicImports(file) {
  const code = readFileSync(file, 'utf8');
  // The banner's own import() is the fallback, and stays.
  const afterBanner = code.indexOf(IMPORT_BANNER) + IMPORT_BANNER.length;
  const starts = [];
  simple(parse(code, { ecmaVersion: 'latest', sourceType: 'script', allowHashBang: true }), {
    ImportExpression(node) {
      if (node.start > afterBanner) starts.push(node.start);
    },
  });
  let out = code;
  for (const at of starts) {
    if (out.slice(at, at + 6) !== 'import') throw new Error(`${file}: no import() at ${at}`);
    out = `${out.slice(0, at)}__kimp${out.slice(at + 6)}`;
  }
  writeFileSync(file, out);
}

const cli = {
  entryPoints: ['src/cli/bin.ts'],
  outfile: 'dist/cli.cjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'linked',
  // commander is bundled: resolving its files at start-up costs more than parsing it. Native
  // addons and heavy packages that only some paths need stay external and load on first use.
  external: [
    'better-sqlite3',
    'zod',
    'yaml',
    'dotenv',
    'tsx',
    'tsx/*',
    'esbuild',
    'esbuild/*',
    '@inquirer/*',
    'libsodium-wrappers',
    '@aws-sdk/*',
    '@smithy/*',
    '@google-cloud/*',
    '@grpc/*',
    'google-gax',
    '@azure/*',
    '@octokit/*',
    'bullmq',
    'ioredis',
    // keystack ui only: loaded when the dashboard starts.
    'hono',
    'hono/*',
    '@hono/*',
    '@dagrejs/*',
  ],
  define: {
    __KEYSTACK_VERSION__: JSON.stringify(JSON.parse(readFileSync('package.json', 'utf8')).version),
    // The library's ESM-only branch (src/support/sqlite.ts) that the bundle, having `require`, never takes.
    'import.meta.url': 'undefined',
  },
  logLevel: 'warning',
  banner: { js: IMPORT_BANNER },
  // tty, os and url are used by a few paths only; crypto by the ones that read or write a secret.
  plugins: [lazyBuiltins(['child_process', 'tty', 'os', 'url', 'crypto']), lazySqlite()],
};
await build(cli);
routeDynamicImports('dist/cli.cjs');
chmodSync('dist/cli.cjs', 0o755);
// The step child (local_process, worker --isolation process) is spawned once per step: its own
// small entry, without commander and the command tree the CLI bundle compiles at every start.
await build({ ...cli, entryPoints: ['src/pipeline/step-host/entry.ts'], outfile: 'dist/step-child.cjs' });
routeDynamicImports('dist/step-child.cjs');
// The compile cache's directory rules, for bin/keystack.cjs (plain CommonJS) to share with the step host.
await build({
  ...cli,
  entryPoints: ['src/support/compile-cache.ts'],
  outfile: 'dist/compile-cache.cjs',
  sourcemap: false,
  banner: {},
});
// keystack ui's stylesheet and client script: files served from the package (no CDN, no inline
// code), beside the CLI bundle and beside the library's ui/ module.
for (const to of ['dist/ui/assets', 'dist/lib/ui/assets']) cpSync('src/ui/assets', to, { recursive: true });
