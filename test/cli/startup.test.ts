/**
 * Start-up loads only what the invoked command needs (issue 19): the command table loads one
 * group's definitions, and a definition builds its `--json` shape from the zod it is given, so
 * zod (about 55 ms to load) is required only by commands that validate with it. The same holds for
 * better-sqlite3 and the built-ins only some commands use (issue 22), and the bin loads the bundle
 * with a code cache: Node's compile cache on Node 22+, keystack's own V8 code cache on Node 20.
 */
import { spawnSync } from 'node:child_process';
import { parse } from 'acorn';
import { simple } from 'acorn-walk';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, tempEnv } from '../support/cli.js';

// A preload that reports every require of zod; the CLI bundle keeps zod external.
const dir = mkdtempSync(join(tmpdir(), 'keystack-startup-'));
const watch = join(dir, 'zod-watch.cjs');
writeFileSync(
  watch,
  `const M = require('node:module'); const load = M._load;
M._load = function (req, ...rest) {
  if (req === 'zod' || req.startsWith('zod/')) process.stderr.write('[zod loaded]\\n');
  return load.call(this, req, ...rest);
};\n`,
);

describe('start-up', () => {
  const e = tempEnv({ KEYSTACK_PASSPHRASE: 'correct-horse-battery-staple', NODE_OPTIONS: `--require ${watch}` });
  const loadsZod = (args: string[]) => {
    const r = cli(e, args);
    expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stderr.includes('[zod loaded]');
  };

  it('loads no zod for commands that do not validate with it', () => {
    for (const args of [
      ['--help'],
      ['status'],
      ['secret', 'list'],
      ['secret', 'register', 'db', '--user=admin'],
      ['secret', '--help'],
      ['stack', 'list'],
      ['orchestrator', 'list'],
      ['keys', 'list'],
      ['pipeline', 'runs', 'list'],
    ])
      expect(loadsZod(args), args.join(' ')).toBe(false);
  });

  it('does load it where a schema validates (so the check above can see a load)', () => {
    expect(loadsZod(['schema', 'describe', 'aws'])).toBe(true);
  });
});

// A preload that reports, at exit, which of the built-ins and packages below the process loaded.
const loads = join(dir, 'load-watch.cjs');
writeFileSync(
  loads,
  `process.on('exit', () => {
  const names = process.moduleLoadList.filter((m) => /^NativeModule (tty|crypto|os|child_process)$/.test(m)).map((m) => m.slice(13));
  if (Object.keys(require.cache).some((f) => f.includes('better-sqlite3'))) names.push('better-sqlite3');
  require('node:fs').writeSync(2, '[loaded:' + names.sort().join(',') + ']\\n');
});\n`,
);

describe('start-up loads what the command uses', () => {
  const e = tempEnv({ KEYSTACK_PASSPHRASE: 'correct-horse-battery-staple' });
  const loaded = (args: string[]) => {
    const r = cli(e, args, { env: { NODE_OPTIONS: `--require ${loads}` } });
    expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return /\[loaded:(.*)\]/.exec(r.stderr)?.[1];
  };

  it('--version, --help, version and a group help load no SQLite, tty, crypto, os or child_process', () => {
    for (const args of [['--version'], ['-V'], ['--help'], ['version'], ['secret', '--help'], ['--json', '--version']])
      expect(loaded(args), args.join(' ')).toBe('');
  });

  it('a command reading a secret does load SQLite and crypto (so the check above can see a load)', () => {
    expect(cli(e, ['secret', 'register', 'db', '--user=admin']).status).toBe(0);
    expect(loaded(['secret', 'get', 'db'])?.split(',')).toEqual(expect.arrayContaining(['better-sqlite3', 'crypto']));
  });

  it('--version alone is answered by the bin as the CLI answers it', () => {
    const plain = cli(e, ['--version']);
    expect(plain).toMatchObject({ status: 0, stderr: '' });
    expect(plain.stdout).toBe(`${cli(e, ['version', '--json']).stdout.match(/"version": ?"([^"]+)"/)?.[1]}\n`);
    // Through commander: the same line.
    expect(cli(e, ['--json', '--version']).stdout).toBe(plain.stdout);
  });
});

const hasCompileCache = typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function';

// A copy of the package (bin, bundle, package.json) in a directory whose mode the test sets.
function copyPackage(mode = 0o755): { root: string; pkg: string; bin: string } {
  const root = mkdtempSync(join(tmpdir(), 'keystack-cache-'));
  const pkg = join(root, 'pkg');
  mkdirSync(pkg);
  for (const f of ['bin', 'dist/cli.cjs', 'dist/compile-cache.cjs', 'package.json'])
    cpSync(resolve(f), join(pkg, f), { recursive: true });
  chmodSync(pkg, mode);
  return { root, pkg, bin: join(pkg, 'bin', 'keystack.cjs') };
}
// Runs that copy's bin with `cache` as its home and cache base, and a config dir of its own in it.
const runBin = (bin: string, cache: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [bin, ...args], {
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: cache,
      XDG_CACHE_HOME: cache,
      KEYSTACK_CONFIG_DIR: join(cache, 'config'),
      KEYSTACK_PASSPHRASE: 'correct-horse-battery-staple',
      ...env,
    },
    encoding: 'utf8',
  });

// Node 22+ keeps its compile cache; on Node 20 the bin keeps V8's code cache for the bundle
// (src/support/compile-cache.ts). The same directory and rules hold for both.
describe('compile cache', () => {
  const copy = (mode: number) => copyPackage(mode);
  const help = (bin: string, cache: string, env: Record<string, string> = {}) => runBin(bin, cache, ['--help'], env);

  it('is kept in a private directory under the user cache dir, and filled', () => {
    const { root, bin } = copy(0o755);
    const cache = join(root, 'cache');
    expect(help(bin, cache).status).toBe(0);
    const dir = join(cache, 'keystack', 'compile-cache');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(cache, 'keystack')).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir).flatMap((v) => readdirSync(join(dir, v))).length).toBeGreaterThan(0);
  });

  it('is not used for a bundle in a directory other users can write', () => {
    const { root, bin } = copy(0o777);
    const cache = join(root, 'cache');
    expect(help(bin, cache).status).toBe(0);
    expect(existsSync(join(cache, 'keystack'))).toBe(false);
  });

  it('is off with NODE_DISABLE_COMPILE_CACHE=1, as for node itself', () => {
    const { root, bin } = copy(0o755);
    const cache = join(root, 'cache');
    expect(help(bin, cache, { NODE_DISABLE_COMPILE_CACHE: '1' }).status).toBe(0);
    expect(existsSync(join(cache, 'keystack'))).toBe(false);
  });

  it('is not used when the cache directory is not private', () => {
    const { root, bin } = copy(0o755);
    const cache = join(root, 'cache');
    mkdirSync(join(cache, 'keystack', 'compile-cache'), { recursive: true, mode: 0o755 });
    chmodSync(join(cache, 'keystack', 'compile-cache'), 0o755);
    expect(help(bin, cache).status).toBe(0);
    expect(readdirSync(join(cache, 'keystack', 'compile-cache'))).toEqual([]);
  });
});

describe.skipIf(hasCompileCache)("Node 20: keystack's own code cache for the bundle", () => {
  const setup = () => {
    const { root, pkg, bin } = copyPackage();
    // yaml, which the bundle imports with import(), resolves from the checkout's node_modules.
    symlinkSync(resolve('node_modules'), join(pkg, 'node_modules'));
    const cache = join(root, 'cache');
    const dir = join(cache, 'keystack', 'compile-cache', `v8-${process.version}-${process.arch}`);
    const run = (args: string[]) => runBin(bin, cache, args);
    const files = () => (existsSync(dir) ? readdirSync(dir) : []);
    return { pkg, dir, run, files };
  };
  // Lists through yaml, which the bundle loads with import(): the call that fails when code read
  // from V8's cache makes its own import() ("A dynamic import callback was not specified").
  const listYaml = (run: (args: string[]) => { status: number | null; stdout: string; stderr: string }) => {
    const r = run(['secret', 'list', '--format', 'yaml']);
    expect(r, r.stderr).toMatchObject({ status: 0, stderr: '' });
    expect(r.stdout).toContain('  - db');
  };

  it('is written once, private, read on later calls, and import() works from cached code', () => {
    const { dir, run, files } = setup();
    expect(run(['secret', 'register', 'db', '--user=admin']).status).toBe(0);
    expect(files()).toHaveLength(1);
    const file = join(dir, files()[0] ?? '');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const first = statSync(file);
    for (let i = 0; i < 2; i++) listYaml(run);
    // Accepted: not written again (a rename would give a new inode).
    expect(files()).toEqual([basename(file)]);
    expect(statSync(file)).toMatchObject({ ino: first.ino, mtimeMs: first.mtimeMs });
  });

  it('is replaced when the bundle is rebuilt, and a damaged cache only means compiling', () => {
    const { pkg, dir, run, files } = setup();
    expect(run(['secret', 'register', 'db', '--user=admin']).status).toBe(0);
    const [old] = files();
    // A rebuild: a new mtime, so a cache of its own.
    utimesSync(join(pkg, 'dist', 'cli.cjs'), new Date(), new Date(Date.now() + 5000));
    listYaml(run);
    expect(files()).toHaveLength(1);
    expect(files()).not.toEqual([old]);
    // Garbage where the cache was: V8 refuses it, the call works, and a good cache replaces it.
    const file = join(dir, files()[0] ?? '');
    writeFileSync(file, Buffer.alloc(4096, 7));
    listYaml(run);
    expect(readFileSync(file).equals(Buffer.alloc(4096, 7))).toBe(false);
    listYaml(run);
  });

  it('is neither read nor written in a subdirectory other users can write', () => {
    const { dir, run, files } = setup();
    expect(run(['secret', 'register', 'db', '--user=admin']).status).toBe(0);
    const [name] = files();
    // Another user could put code there for this one to run: it is not read, and not replaced.
    chmodSync(dir, 0o777);
    const planted = join(dir, name ?? '');
    writeFileSync(planted, Buffer.alloc(4096, 7));
    listYaml(run);
    expect(files()).toEqual([name]);
    expect(readFileSync(planted).equals(Buffer.alloc(4096, 7))).toBe(true);
  });

  it('a cache that cannot be made only means compiling', () => {
    const { dir, run } = setup();
    mkdirSync(join(dir, '..'), { recursive: true, mode: 0o700 });
    // A file where this Node's subdirectory would be.
    writeFileSync(dir, 'not a directory', { mode: 0o600 });
    expect(run(['secret', 'register', 'db', '--user=admin'])).toMatchObject({ status: 0, stderr: '' });
    listYaml(run);
    expect(readFileSync(dir, 'utf8')).toBe('not a directory');
  });

  it('leaves no import() of its own in the bundles but the fallback (scripts/build.mjs)', () => {
    for (const f of ['dist/cli.cjs', 'dist/step-child.cjs']) {
      const starts: number[] = [];
      simple(parse(readFileSync(f, 'utf8'), { ecmaVersion: 'latest', sourceType: 'script' }), {
        ImportExpression(node) {
          starts.push(node.start);
        },
      });
      // The banner's: `(s, o) => import(s, o)` on the first line.
      expect(starts, f).toHaveLength(1);
      expect(starts[0], f).toBeLessThan(120);
    }
  });
});
