/**
 * `keystack run --mount VAR=TEMPLATE`: the rendered template is a 0600 file in a 0700 directory
 * that exists only while the child runs. Each run gets its own TMPDIR, so "nothing left behind"
 * is checked by that directory being empty afterwards, including runs where the child never starts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Keystack } from '../../src/stack/client.js';
import { BIN, cli, expectCleanError, tempEnv, type CliEnv } from '../support/cli.js';

const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;

let e: CliEnv;
let template: string;
beforeAll(async () => {
  e = tempEnv();
  const ks = new Keystack({ configDir: join(e.configDir, 'config'), env: e.env });
  const sm = await ks.secretsManager();
  await sm.register('db', { user: 'admin-user', password: PASSWORD });
  await ks.close();
  template = join(e.configDir, 'pgpass.tmpl');
  writeFileSync(template, 'host:5432:ml:{{db.user}}:{{db.password}}\n');
});

/** A fresh, empty TMPDIR for one run. */
const freshTmp = () => mkdtempSync(join(e.configDir, 'tmp-'));
const node = (script: string) => ['--', process.execPath, '-e', script];

describe('keystack run --mount', () => {
  it('gives VAR the path of a 0600 file (in a 0700 directory) holding the rendered template while the child runs, and removes it after', () => {
    const tmp = freshTmp();
    const seen = join(e.configDir, 'seen.json');
    const copy = join(e.configDir, 'copy.txt');
    const script = `const fs = require("node:fs"); const path = require("node:path"); const f = process.env.PGPASSFILE;
      fs.copyFileSync(f, ${JSON.stringify(copy)});
      fs.writeFileSync(${JSON.stringify(seen)}, JSON.stringify({ f, mode: fs.statSync(f).mode & 0o777, dir: fs.statSync(path.dirname(f)).mode & 0o777 }));
      process.stdout.write(fs.readFileSync(f, "utf8"));`;
    const r = cli(e, ['run', '--mount', `PGPASSFILE=${template}`, ...node(script)], { env: { TMPDIR: tmp } });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(copy, 'utf8')).toBe(`host:5432:ml:admin-user:${PASSWORD}\n`);
    const got = JSON.parse(readFileSync(seen, 'utf8')) as { f: string; mode: number; dir: number };
    expect([got.mode, got.dir]).toEqual([0o600, 0o700]);
    expect(got.f.startsWith(`${tmp}/keystack-run-`)).toBe(true);
    expect(got.f.endsWith('/PGPASSFILE')).toBe(true);
    // The child's output goes through the masker like any other (every value of the secret is masked).
    expect(r.stdout).toBe('host:5432:ml:***:***\n');
    expect(r.stderr).not.toContain(PASSWORD);
    expect(existsSync(got.f)).toBe(false);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('mounts several templates, names each file VAR plus the template’s extension, and works with --isolated', () => {
    const tmp = freshTmp();
    const json = join(e.configDir, 'sa.json.tmpl');
    writeFileSync(json, '{"user": "{{db.user}}"}');
    const r = cli(
      e,
      [
        'run',
        '--no-mask',
        '--isolated',
        '--mount',
        `PGPASSFILE=${template}`,
        '--mount',
        `CREDS=${json}`,
        ...node(
          'const fs = require("node:fs"); const path = require("node:path"); console.log(path.basename(process.env.PGPASSFILE), path.basename(process.env.CREDS), fs.readFileSync(process.env.CREDS, "utf8"))',
        ),
      ],
      { env: { TMPDIR: tmp } },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('PGPASSFILE CREDS.json {"user": "admin-user"}\n');
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('removes the file when the child fails, and when it cannot be started', () => {
    const tmp = freshTmp();
    const failed = cli(e, ['run', '--mount', `F=${template}`, '--', 'sh', '-c', 'test -s "$F" && exit 7'], {
      env: { TMPDIR: tmp },
    });
    expect(failed.status, failed.stderr).toBe(7);
    expect(readdirSync(tmp)).toEqual([]);
    const notFound = cli(e, ['run', '--mount', `F=${template}`, '--', 'keystack-no-such-command-xyz'], {
      env: { TMPDIR: tmp },
    });
    expect(notFound.status).toBe(127);
    expect(notFound.stderr).toMatch(/^Error: command not found/);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'removes the file when %s is forwarded to the child, whether it handles the signal or dies of it',
    async (signal) => {
      for (const handles of [true, false]) {
        const tmp = freshTmp();
        const script = `${handles ? `process.on(${JSON.stringify(signal)}, () => setTimeout(() => process.exit(3), 100));` : ''} console.log("ready " + process.env.F); setInterval(() => {}, 1000);`;
        const p = spawn(process.execPath, [BIN, 'run', '--mount', `F=${template}`, ...node(script)], {
          env: { ...e.env, TMPDIR: tmp },
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true,
        });
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        const exited = new Promise<number | null>((res) => p.on('close', (code) => res(code)));
        for (let i = 0; i < 600 && !out.includes('\n'); i++) await new Promise((r) => setTimeout(r, 25));
        const file = /ready (\S+)/.exec(out)?.[1] ?? '';
        // While the child runs, the file is there with the rendered content.
        expect(readFileSync(file, 'utf8')).toContain('admin-user');
        process.kill(p.pid as number, signal);
        expect(await exited).toBe(handles ? 3 : 128 + (signal === 'SIGTERM' ? 15 : 2));
        expect(existsSync(file)).toBe(false);
        expect(readdirSync(tmp)).toEqual([]);
      }
    },
  );

  it('a missing reference fails before the child starts, exit 1, naming it, and writes no file', () => {
    const tmp = freshTmp();
    const bad = join(e.configDir, 'bad.tmpl');
    writeFileSync(bad, 'a={{db.password}} b={{db.nokey}} c={{ghost.k}}\n');
    const marker = join(e.configDir, 'mount-ran');
    const r = cli(e, ['run', '--mount', `F=${bad}`, '--', 'touch', marker], { env: { TMPDIR: tmp } });
    expectCleanError(r, 1, {
      message:
        /\{\{db\.nokey\}\} \(secret 'db' has no key 'nokey'\).*\{\{ghost\.k\}\} \(no secret 'ghost'\).*not started/,
    });
    expect(r.stderr).not.toContain(PASSWORD);
    expect(existsSync(marker)).toBe(false);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('bad --mount syntax is a usage error (exit 2) naming the fix; a missing template exits 1; nothing runs', () => {
    const marker = join(e.configDir, 'usage-ran');
    const tmp = freshTmp();
    for (const spec of ['PGPASSFILE', `=${template}`, 'F=']) {
      expectCleanError(cli(e, ['run', '--mount', spec, '--', 'touch', marker], { env: { TMPDIR: tmp } }), 2, {
        message: /^Error: invalid --mount .*\nHint: Give --mount VAR=TEMPLATE/,
      });
    }
    expectCleanError(cli(e, ['run', '--mount', `1F=${template}`, '--', 'touch', marker]), 2, {
      message: /invalid environment variable name "1F" in --mount/,
    });
    expectCleanError(
      cli(e, ['run', '--mount', `F=${template}`, '--mount', `F=${template}`, '--', 'touch', marker]),
      2,
      {
        message: /the variable F is given twice/,
      },
    );
    expectCleanError(cli(e, ['run', '--env', 'F=x', '--mount', `F=${template}`, '--', 'touch', marker]), 2, {
      message: /the variable F is given twice \(--mount and --env\)/,
    });
    expectCleanError(cli(e, ['run', '-s', 'db', '--mount', `DB_USER=${template}`, '--', 'touch', marker]), 2, {
      message: /two values map to the environment variable DB_USER/,
    });
    expectCleanError(cli(e, ['run', '--mount', 'F=no-such.tmpl', '--', 'touch', marker]), 1, {
      message: /cannot read the template no-such\.tmpl \(ENOENT\)\nHint: Check the path given to --mount/,
    });
    expect(existsSync(marker)).toBe(false);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('resolves a relative template path against the working directory', () => {
    const dir = join(e.configDir, 'proj');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'u.tmpl'), '{{db.user}}');
    const r = cli(
      e,
      [
        'run',
        '--no-mask',
        '--mount',
        'U=u.tmpl',
        ...node('console.log(require("node:fs").readFileSync(process.env.U, "utf8"))'),
      ],
      {
        cwd: dir,
      },
    );
    expect(r.stdout, r.stderr).toBe('admin-user\n');
  });
});
