/**
 * Issue 9 (integrity): values are never altered on the way in, failures never exit 0, config
 * edits say how to proceed, and errors caused by the environment are not blamed on keystack.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BIN,
  cli,
  expectCleanError as expectClean,
  inPty,
  tempEnv,
  type CliEnv,
  type CliResult,
} from '../support/cli.js';

const MAX = 1024 * 1024;

/** One error line plus one hint line, no stack trace, and never blamed on keystack. */
function expectCleanError(r: CliResult, code: 1 | 2, message?: RegExp): void {
  expectClean(r, code, { message, forbid: /\n\s+at |This is a bug/ });
}

function value(e: CliEnv, name: string, key: string): Buffer {
  const r = spawnSync(process.execPath, [BIN, 'secret', 'get', name, '--key', key], { env: e.env });
  expect(r.status, r.stderr.toString()).toBe(0);
  return r.stdout;
}

function ok(e: CliEnv, args: string[], input?: string): string {
  const r = cli(e, args, input === undefined ? {} : { input });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/**
 * Custom flavors for these tests, as plain objects (no import of keystack): `jsonfile` keeps
 * secrets in a JSON file (location field `file`, credential `token`); `down` cannot reach its
 * backend; `hang` never answers; `liar` breaks the contract in its return values.
 */
const FLAVORS = `
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
const base = { kind: 'keystack.flavor', description: 'test flavor', supportsScoping: false, separator: '/', isLocal: true,
  nameRule: { pattern: /^[a-z0-9_-]+$/, maxLength: 64, description: 'lowercase' }, maxContentBytes: 1000000,
  capabilities: { readValues: true }, dependencies: {} };
const fields = { file: { type: 'string', description: 'store file', required: true }, token: { type: 'string', description: 'credential', sensitive: true, env: 'JSONFILE_TOKEN' } };
function store(file) {
  const load = () => (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {});
  const save = (d) => writeFileSync(file, JSON.stringify(d));
  const change = (fn) => { const d = load(); const r = fn(d); save(d); return r; };
  return {
    async create(n, s) { return change((d) => (n in d ? false : ((d[n] = s), true))); },
    async get(n) { return load()[n] ?? null; },
    async list() { return Object.keys(load()); },
    async update(n, s) { return change((d) => (n in d ? ((d[n] = s), true) : false)); },
    async delete(n) { return change((d) => (n in d ? (delete d[n], true) : false)); },
    async deleteAll() { return change((d) => { const k = Object.keys(d); for (const n of k) delete d[n]; return k.length; }); },
  };
}
export const jsonfile = { ...base, name: 'jsonfile', locationFields: ['file'], config: fields, create: ({ config }) => store(config.file) };
export const down = { ...base, name: 'down', locationFields: ['file'], config: fields,
  create: ({ config }) => ({ ...store(config.file), async list() { throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }); } }) };
export const hang = { ...base, name: 'hang', config: fields, create: ({ config }) => ({ ...store(config.file), list: () => new Promise(() => {}) }) };
export const liar = { ...base, name: 'liar', config: fields,
  create: ({ config }) => ({ ...store(config.file), async list() { return 'abc'; }, async deleteAll() { return undefined; }, async get() { return 'x'; } }) };
`;

/** A config dir with the test flavors registered and a manager of `flavor` in the active stack. */
function withFlavor(flavor: string, config: string[] = []): CliEnv & { file: string } {
  const e = tempEnv();
  const module = join(e.configDir, 'flavors.mjs');
  writeFileSync(module, FLAVORS);
  const file = join(e.configDir, `${flavor}.json`);
  ok(e, ['secrets-manager', 'flavor', 'register', module]);
  ok(e, ['secrets-manager', 'register', 'm', `--flavor=${flavor}`, `--file=${file}`, ...config]);
  ok(e, ['stack', 'register', 's', '-x', 'm', '--set']);
  return { ...e, file };
}

function names(e: CliEnv): string[] {
  return JSON.parse(cli(e, ['--json', 'secret', 'list']).stdout).secrets as string[];
}

describe('values are not altered on the way in', () => {
  it('refuses a value from @FILE or @- that is not UTF-8, with a hint to base64 it, and stores nothing', () => {
    const e = tempEnv();
    // 0xff never occurs in UTF-8: these bytes are certainly not text.
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), randomBytes(30)]);
    const file = join(e.configDir, 'bin.dat');
    writeFileSync(file, bytes);
    const r = cli(e, ['secret', 'register', 'b', `--v=@${file}`]);
    expectCleanError(r, 1, /not valid UTF-8[\s\S]*Hint: .*base64/);
    const s = cli(e, ['secret', 'register', 'b', '--v=@-'], { input: bytes });
    expectCleanError(s, 1, /not valid UTF-8[\s\S]*Hint: .*base64/);
    expect(names(e)).toEqual([]);
  });

  it('@FILE keeps the bytes exactly, trailing line endings included', () => {
    const e = tempEnv();
    const content = 'line one\r\nline two\n\n';
    const file = join(e.configDir, 'v.txt');
    writeFileSync(file, content);
    expect(cli(e, ['secret', 'register', 'f', `--v=@${file}`]).status).toBe(0);
    expect(value(e, 'f', 'v').toString('utf8')).toBe(content);
  });

  it('@- strips exactly one trailing line ending, "\\n" or "\\r\\n"', () => {
    const e = tempEnv();
    expect(cli(e, ['secret', 'register', 'a', '--v=@-'], { input: 'tok\n\n' }).status).toBe(0);
    expect(value(e, 'a', 'v').toString()).toBe('tok\n');
    expect(cli(e, ['secret', 'register', 'b', '--v=@-'], { input: 'tok\r\n' }).status).toBe(0);
    expect(value(e, 'b', 'v').toString()).toBe('tok');
    expect(cli(e, ['secret', 'register', 'c', '--v=@-'], { input: 'tok' }).status).toBe(0);
    expect(value(e, 'c', 'v').toString()).toBe('tok');
  });

  it('@- refuses empty input', () => {
    const e = tempEnv();
    expectCleanError(
      cli(e, ['secret', 'register', 'a', '--v=@-'], { input: '' }),
      1,
      /standard input for 'v' is empty/,
    );
    expectCleanError(cli(e, ['secret', 'register', 'a', '--v=@-'], { input: '\n' }), 1, /is empty/);
    expect(names(e)).toEqual([]);
  });

  it('@/dev/stdin counts as stdin: same stripping, and only one key may read it', () => {
    const e = tempEnv();
    expect(cli(e, ['secret', 'register', 'a', '--v=@/dev/stdin'], { input: 'tok\n' }).status).toBe(0);
    expect(value(e, 'a', 'v').toString()).toBe('tok');
    expectCleanError(
      cli(e, ['secret', 'register', 'b', '--x=@-', '--y=@/dev/stdin'], { input: 'tok\n' }),
      2,
      /read standard input/,
    );
    expectCleanError(
      cli(e, ['secret', 'register', 'b', '--x=@/proc/self/fd/0', '--y=@/dev/fd/0'], { input: 'tok\n' }),
      2,
      /read standard input/,
    );
  });

  it('counts bytes actually read: /dev/zero, a pipe on /dev/stdin and a FIFO are cut off at 1 MiB', () => {
    const e = tempEnv();
    const zero = cli(e, ['secret', 'register', 'z', '--v=@/dev/zero']);
    expectCleanError(zero, 1, /over 1048576 bytes/);
    const big = Buffer.alloc(MAX + 10, 'q');
    expectCleanError(cli(e, ['secret', 'register', 'z', '--v=@/dev/stdin'], { input: big }), 1, /over 1048576 bytes/);
    expectCleanError(cli(e, ['secret', 'register', 'z', '--v=@-'], { input: big }), 1, /over 1048576 bytes/);
    const fifo = join(e.configDir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const r = spawnSync(
      'sh',
      [
        '-c',
        `head -c 3000000 /dev/zero | tr '\\0' q > "$1" & exec "$2" "$3" secret register z "--v=@$1"`,
        'sh',
        fifo,
        process.execPath,
        BIN,
      ],
      { env: e.env, encoding: 'utf8' },
    );
    expectCleanError({ status: r.status, stdout: r.stdout, stderr: r.stderr }, 1, /over 1048576 bytes/);
    expect(names(e)).toEqual([]);
  });
});

describe('failures never exit 0', () => {
  it('a custom flavor whose promise never settles exits 1 with a clear error, --json included', () => {
    const e = withFlavor('hang');
    expectCleanError(
      cli(e, ['secret', 'list']),
      1,
      /stopped before the command finished: a step, flavor or plugin promise never settled/,
    );
    const j = cli(e, ['--json', 'secret', 'list']);
    expect(j.status).toBe(1);
    expect(JSON.parse(j.stdout).error.message).toContain('never settled');
  });

  it('a plugin module with a hanging top-level await exits 1', () => {
    const e = tempEnv();
    const module = join(e.configDir, 'tla.mjs');
    writeFileSync(module, 'await new Promise(() => {});\nexport const x = 1;\n');
    expectCleanError(cli(e, ['secrets-manager', 'flavor', 'register', module]), 1, /never settled/);
  });

  it('a failed stdout write (/dev/full) exits 1 and says so on stderr', () => {
    const e = tempEnv();
    ok(e, ['secret', 'register', 'a', '--v=1']);
    for (const args of [
      ['secret', 'list'],
      ['--json', 'secret', 'list'],
      ['secret', 'get', 'a', '--key', 'v'],
    ]) {
      const full = openSync('/dev/full', 'w');
      try {
        const r = spawnSync(process.execPath, [BIN, ...args], {
          env: e.env,
          stdio: ['ignore', full, 'pipe'],
          encoding: 'utf8',
        });
        expect(r.status, args.join(' ')).toBe(1);
        expect(r.stderr).toMatch(/^Error: cannot write the output to standard output \(ENOSPC\)\nHint: /);
      } finally {
        closeSync(full);
      }
    }
  });

  it('EPIPE after the output is complete stays silent', () => {
    const e = tempEnv();
    for (let i = 0; i < 3; i++) ok(e, ['secret', 'register', `s${i}`, '--v=1']);
    const r = spawnSync(
      'sh',
      ['-c', '"$0" "$1" secret list | head -c 0; exit "${PIPESTATUS:-0}"', process.execPath, BIN],
      { env: e.env, encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
  });

  it('Ctrl-D at a confirmation aborts with exit 1 and deletes nothing; Ctrl-C exits 130', () => {
    const e = tempEnv();
    ok(e, ['secret', 'register', 'a', '--v=1']);
    const eof = inPty(e, ['secret', 'delete', 'a'], [{ expect: 'Delete secret', send: '\x04' }]);
    expect(eof.status, eof.stdout).toBe(1);
    expect(eof.stdout).toMatch(
      /Error: input ended at a prompt \(Ctrl-D\): aborted; nothing was changed or deleted\r?\nHint: /,
    );
    const intr = inPty(e, ['secret', 'delete-all'], [{ expect: 'Delete all', send: '\x03' }]);
    expect(intr.status, intr.stdout).toBe(130);
    expect(intr.stdout).toContain('cancelled (Ctrl-C)');
    expect(names(e)).toEqual(['a']);
  });
});

describe('config edits say what they do and how to proceed', () => {
  it('rotating a credential of a manager that holds secrets needs no --force; moving it does', () => {
    const e = withFlavor('jsonfile', ['--token=old-token']);
    ok(e, ['secret', 'register', 'keep', '--v=1']);
    ok(e, ['secrets-manager', 'update', 'm', '--token=new-token']);
    const moved = cli(e, ['secrets-manager', 'update', 'm', `--file=${e.file}.moved`]);
    expectCleanError(moved, 1, /holds 1 secret that changing 'file' would make invisible to it[\s\S]*--force/);
    expect(names(e)).toEqual(['keep']);
    ok(e, ['secrets-manager', 'update', 'm', `--file=${e.file}.moved`, '--force']);
    expect(names(e)).toEqual([]);
  });

  it('secrets-manager update --KEY= removes the field instead of storing ""', () => {
    const e = withFlavor('jsonfile', ['--token=old-token']);
    ok(e, ['secrets-manager', 'update', 'm', '--token=']);
    const config = JSON.parse(ok(e, ['--json', 'secrets-manager', 'describe', 'm'])).config as Record<string, unknown>;
    expect(config).not.toHaveProperty('token');
    expect(config['file']).toBe(e.file);
  });

  it('a location change while the backend is unreachable says to use --force, and --force works', () => {
    const e = withFlavor('down');
    const r = cli(e, ['secrets-manager', 'update', 'm', `--file=${e.file}.2`]);
    expectCleanError(r, 1, /cannot check whether secrets manager 'm' holds secrets[\s\S]*Hint: .*--force/);
    ok(e, ['secrets-manager', 'update', 'm', `--file=${e.file}.2`, '--force']);
    expect(JSON.parse(ok(e, ['--json', 'secrets-manager', 'describe', 'm'])).config.file).toBe(`${e.file}.2`);
  });
});

describe('errors caused by the environment are not blamed on keystack', () => {
  it('a config directory that is a file is a ConfigError naming the path', () => {
    const e = tempEnv();
    const file = join(e.configDir, 'not-a-dir');
    writeFileSync(file, 'x');
    const r = cli(e, ['secret', 'list'], { env: { KEYSTACK_CONFIG_DIR: file } });
    // The trust checks (DESIGN §12) look at the path first; a path that is not a directory is not a
    // trust matter, so they leave it to the config store's explanation of the environment error.
    expectCleanError(
      r,
      1,
      new RegExp(
        `the config directory ${file} is not a directory \\(ENOTDIR\\)[\\s\\S]*Hint: Move the file at that path away`,
      ),
    );
  });

  // Permissions do not apply to root, so these run keystack as the unprivileged user 65534.
  const asRoot = process.getuid?.() === 0;
  const NOBODY = 65534;
  const asNobody = (e: CliEnv, args: string[]): CliResult => {
    const r = spawnSync(process.execPath, [BIN, ...args], { env: e.env, uid: NOBODY, gid: NOBODY, encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  /** A config dir owned by the other user, with one secret in the default store. */
  const nobodyEnv = (): CliEnv & { dir: string } => {
    const e = tempEnv();
    chownSync(e.configDir, NOBODY, NOBODY);
    const r = asNobody(e, ['secret', 'register', 'a', '--v=readable-value']);
    expect(r.status, r.stderr).toBe(0);
    return { ...e, dir: e.env['KEYSTACK_CONFIG_DIR'] as string };
  };

  it.skipIf(!asRoot)(
    'an unreadable config directory is a ConfigError naming the path (runs as uid 65534, so needs root)',
    () => {
      const e = nobodyEnv();
      chmodSync(e.dir, 0o000);
      try {
        expectCleanError(
          asNobody(e, ['secret', 'list']),
          1,
          new RegExp(`permission denied on the config store ${e.dir}/config.db \\(EACCES\\)[\\s\\S]*Hint: `),
        );
      } finally {
        chmodSync(e.dir, 0o700);
      }
    },
  );

  it.skipIf(!asRoot)(
    'a read-only config directory and store can be read; a write says it is read-only (runs as uid 65534, so needs root)',
    () => {
      const e = nobodyEnv();
      const stores = join(e.dir, 'local_stores');
      const files = [join(e.dir, 'config.db'), ...readdirSync(stores).map((f) => join(stores, f))];
      for (const f of files) chmodSync(f, 0o400);
      for (const d of [stores, e.dir]) chmodSync(d, 0o500);
      try {
        const got = asNobody(e, ['secret', 'get', 'a', '--key', 'v']);
        expect(got.status, got.stderr).toBe(0);
        expect(got.stdout).toBe('readable-value');
        expect(asNobody(e, ['secret', 'list']).stdout).toBe('a\n');
        expect(asNobody(e, ['pipeline', 'runs', 'list']).status).toBe(0);
        const reg = asNobody(e, ['secret', 'register', 'b', '--v=1']);
        expectCleanError(
          reg,
          1,
          new RegExp(`the local store ${stores}/secrets.db is read-only \\(SQLITE_READONLY\\)[\\s\\S]*Hint: `),
        );
        const w = asNobody(e, ['stack', 'register', 'x', '-o', 'default', '-a', 'default']);
        expectCleanError(
          w,
          1,
          new RegExp(`the config store ${e.dir}/config.db is read-only \\(SQLITE_READONLY\\)[\\s\\S]*Hint: `),
        );
      } finally {
        for (const d of [e.dir, stores]) chmodSync(d, 0o700);
      }
    },
  );

  it('a custom flavor that breaks the contract gets a ConfigError naming the module', () => {
    const e = withFlavor('liar');
    const module = join(e.configDir, 'flavors.mjs');
    const list = cli(e, ['secret', 'list']);
    expectCleanError(
      list,
      1,
      new RegExp(
        `the liar flavor \\(module ${module}\\) broke the backend contract: list returned a string, not an array of secret names`,
      ),
    );
    const all = cli(e, ['secret', 'delete-all', '-y']);
    expectCleanError(
      all,
      1,
      /broke the backend contract: delete-all returned undefined, not a count of deleted secrets/,
    );
    expect(all.stderr).not.toContain('Deleted undefined');
    expectCleanError(cli(e, ['secret', 'get', 'x']), 1, /broke the backend contract: get returned a string/);
  });

  it('a success message about 20,000 keys is summarised (the JSON has them all)', () => {
    const e = tempEnv();
    const keys = Array.from({ length: 20_000 }, (_, i) => `k${i}`);
    const r = cli(e, ['secret', 'register', 'wide', ...keys.map((k) => `--${k}=v`)]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.length).toBeLessThan(1000);
    expect(r.stdout).toMatch(/keys: k0, k1, .*, k19 and 19,980 more\) in/);
    const j = cli(e, ['--json', 'secret', 'update', 'wide', ...keys.map((k) => `--${k}=w`)]);
    expect((JSON.parse(j.stdout) as { set: string[] }).set).toHaveLength(20_000);
  });

  it('stack validate --level BOGUS is a usage error, exit 2', () => {
    const e = tempEnv();
    expectCleanError(
      cli(e, ['stack', 'validate', '--level', 'BOGUS']),
      2,
      /--level must be one of NONE, SECRET_EXISTS, SECRET_AND_KEY_EXISTS/,
    );
    expect(cli(e, ['stack', 'validate', '--level', 'none']).status).toBe(0);
  });
});
