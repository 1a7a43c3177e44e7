// Two outputs: the library (tsc, ESM + .d.ts) and the CLI as one CommonJS bundle, because
// start-up time is dominated by module loading (DESIGN §11). Heavy packages stay external and
// are only required on the code paths that need them.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync } from 'node:fs';

// Several processes (test runs, developers) may build at once: overwrite in place, never delete
// dist wholesale, so a concurrent run never sees it missing. `--clean` starts from scratch.
if (process.argv.includes('--clean')) rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });

/**
 * commander requires child_process at load time for executable subcommands, which keystack does
 * not use; loading it costs every call several ms. Bundled code gets a proxy that loads the real
 * module on first property access instead.
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
      b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
        contents: `let m; const load = () => (m ??= require('node:${args.path}'));
module.exports = new Proxy({}, { get: (_, k) => load()[k], has: (_, k) => k in load(), ownKeys: () => Reflect.ownKeys(load()), getOwnPropertyDescriptor: (_, k) => Object.getOwnPropertyDescriptor(load(), k) });`,
        loader: 'js',
      }));
    },
  };
}

await build({
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
  ],
  define: { __KEYSTACK_VERSION__: JSON.stringify(JSON.parse(readFileSync('package.json', 'utf8')).version) },
  logLevel: 'warning',
  plugins: [lazyBuiltins(['child_process'])],
});
chmodSync('dist/cli.cjs', 0o755);
