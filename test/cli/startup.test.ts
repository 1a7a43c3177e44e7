/**
 * Start-up loads only what the invoked command needs (issue 19): the command table loads one
 * group's definitions, and a definition builds its `--json` shape from the zod it is given, so
 * zod (about 55 ms to load) is required only by commands that validate with it. The same holds for
 * better-sqlite3 and the built-ins only some commands use (issue 22), and the bin turns on a V8
 * compile cache where Node has one.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
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

describe.skipIf(!hasCompileCache)('compile cache (Node 22+)', () => {
  // A copy of the package (bin, bundle, package.json) in a directory whose mode the test sets.
  const copy = (mode: number) => {
    const root = mkdtempSync(join(tmpdir(), 'keystack-cache-'));
    const pkg = join(root, 'pkg');
    mkdirSync(pkg);
    for (const f of ['bin', 'dist/cli.cjs', 'dist/compile-cache.cjs', 'package.json'])
      cpSync(resolve(f), join(pkg, f), { recursive: true });
    chmodSync(pkg, mode);
    return { root, bin: join(pkg, 'bin', 'keystack.cjs') };
  };
  const help = (bin: string, cache: string, env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [bin, '--help'], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: cache, XDG_CACHE_HOME: cache, ...env },
      encoding: 'utf8',
    });

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
