import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Keystack } from '../../src/stack/client.js';
import { BIN, cli, expectCleanError, inPty, tempEnv, type CliEnv } from '../support/cli.js';
import { requireEnv } from '../support/fake-http.js';

const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
const TOKEN = 'tok"en\\with/slash+plus?&= ü-0123456789~~>?';

let e: CliEnv;
beforeAll(async () => {
  e = tempEnv();
  const ks = new Keystack({ configDir: join(e.configDir, 'config'), env: e.env });
  const sm = await ks.secretsManager();
  await sm.register('db', { user: 'admin-user', password: PASSWORD });
  await sm.register('api', { token: TOKEN });
  await sm.register('my-svc', { 'key.v2': 'svc-value-1234', 'key-v2': 'svc-value-5678' });
  const big: Record<string, string> = {};
  for (let i = 0; i < 2000; i++) big[`k${i}`] = `v${i}-${'x'.repeat(40)}`;
  await sm.register('big', big);
  await sm.register('huge', { value: 'h'.repeat(200 * 1024) });
  await ks.close();
});

const node = (script: string) => ['--', process.execPath, '-e', script];

/** Starts keystack in its own session (no controlling terminal), so signals reach only it. */
function start(args: readonly string[], env: Record<string, string> = {}) {
  const p = spawn(process.execPath, [BIN, ...args], {
    env: { ...e.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((res) => p.on('close', (code) => res(code)));
  const waitFor = async (text: string) => {
    for (let i = 0; i < 600 && !stdout.includes(text); i++) await new Promise((r) => setTimeout(r, 25));
    if (!stdout.includes(text)) throw new Error(`never saw ${text}: ${stdout} ${stderr}`);
  };
  return { p, exited, waitFor, out: () => stdout, err: () => stderr };
}

describe('keystack run: the environment', () => {
  it('injects -s NAME as NAME_KEY, -s NAME.KEY, and --env references; the child sees the values, the output is masked', () => {
    const r = cli(e, [
      'run',
      '-s',
      'db',
      '--env',
      'T={{api.token}}',
      '-s',
      'my-svc.key.v2',
      ...node(
        'const c = require("node:crypto"); const h = (s) => c.createHash("sha256").update(s ?? "").digest("hex"); console.log(JSON.stringify({ u: h(process.env.DB_USER), p: h(process.env.DB_PASSWORD), t: h(process.env.T), s: h(process.env.MY_SVC_KEY_V2), raw: process.env.DB_PASSWORD }))',
      ),
    ]);
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as Record<string, string>;
    const h = (s: string) => createHash('sha256').update(s).digest('hex');
    expect(got).toEqual({ u: h('admin-user'), p: h(PASSWORD), t: h(TOKEN), s: h('svc-value-1234'), raw: '***' });
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  it('reads env files with dotenv: references resolve, plain values pass unchanged, later files and --env win', () => {
    const a = join(e.configDir, 'a.env');
    const b = join(e.configDir, 'b.env');
    writeFileSync(
      a,
      'DB_PASSWORD={{db.password}}\nPLAIN="hello world"\n# comment\nexport OVER=a\nQUOTED=\'$NOT_EXPANDED\'\n',
    );
    writeFileSync(b, 'OVER=b\nTOKEN={{api.token}}\n');
    const r = cli(e, [
      'run',
      '--no-mask',
      '--env-file',
      a,
      '--env-file',
      b,
      '--env',
      'LAST=x',
      ...node(
        'const v = process.env; const h = (s) => require("node:crypto").createHash("sha256").update(s).digest("hex"); console.log(JSON.stringify([h(v.DB_PASSWORD), v.PLAIN, v.OVER, v.QUOTED, h(v.TOKEN), v.LAST]))',
      ),
    ]);
    expect(r.status, r.stderr).toBe(0);
    const h = (s: string) => createHash('sha256').update(s).digest('hex');
    expect(JSON.parse(r.stdout)).toEqual([h(PASSWORD), 'hello world', 'b', '$NOT_EXPANDED', h(TOKEN), 'x']);
  });

  it('refuses an env file line without `=` by file and line number, never echoing it, and never starts the child', () => {
    const envFile = join(e.configDir, 'pasted.env');
    writeFileSync(envFile, 'A={{db.password}}\n# the token:\nghp_pastedAloneToken0123456789\n');
    const marker = join(e.configDir, 'pasted-ran');
    const r = cli(e, ['run', '--env-file', envFile, '--', 'touch', marker]);
    expectCleanError(r, 1, {
      message: new RegExp(`^Error: line 3 of the env file ${envFile} is not an assignment dotenv can read`),
    });
    expect(r.stderr).not.toContain('pastedAlone');
    expect(existsSync(marker)).toBe(false);
  });

  it('reports every missing secret and key together, exits 1, and never starts the child', () => {
    const envFile = join(e.configDir, 'missing.env');
    writeFileSync(envFile, 'A={{nosuch.key}}\nB={{db.nokey}}\nC={{db.password}}\n');
    const marker = join(e.configDir, 'child-ran');
    const r = cli(e, [
      'run',
      '--env-file',
      envFile,
      '-s',
      'ghost',
      '--env',
      'D={{api.missing}}',
      '--',
      'touch',
      marker,
    ]);
    expectCleanError(r, 1, {
      message:
        /\{\{nosuch\.key\}\} \(no secret 'nosuch'\).*\{\{db\.nokey\}\} \(secret 'db' has no key 'nokey'\).*\{\{api\.missing\}\}.*ghost \(no secret 'ghost'\)/,
    });
    expect(existsSync(marker)).toBe(false);
    expect(r.stderr).not.toContain(PASSWORD);
  });

  it('refuses a value that looks like a reference but is not one, and two keys that map to one name', () => {
    const envFile = join(e.configDir, 'near.env');
    writeFileSync(envFile, 'A=prefix-{{db.password}}\n');
    expectCleanError(cli(e, ['run', '--env-file', envFile, '--', 'true']), 2, {
      message: /A \(.*near\.env\): it has text outside the braces/,
    });
    expectCleanError(cli(e, ['run', '-s', 'my-svc', '--', 'true']), 2, {
      message: /MY_SVC_KEY_V2: \{\{my-svc\.key\.v2\}\} and \{\{my-svc\.key-v2\}\}/,
    });
    expectCleanError(cli(e, ['run', '-s', 'db', '--env', 'DB_USER=x', '--', 'true']), 2, { message: /DB_USER/ });
    // --prefix does not resolve a collision inside one secret, but does separate from explicit names.
    const r = cli(e, [
      'run',
      '--no-mask',
      '-s',
      'db',
      '--prefix',
      'APP_',
      '--env',
      'DB_USER=x',
      ...node('console.log(process.env.APP_DB_USER, process.env.DB_USER)'),
    ]);
    expect(r.stdout.trim()).toBe('admin-user x');
  });

  it('--isolated gives the child only the injected variables and the documented minimal set', () => {
    const r = cli(
      e,
      ['run', '--isolated', '-s', 'db', ...node('console.log(Object.keys(process.env).sort().join(","))')],
      {
        env: {
          HOME: '/home/x',
          LANG: 'C.UTF-8',
          TERM: 'dumb',
          EXTRA_PARENT_VAR: 'leak',
          AWS_SECRET_ACCESS_KEY: 'not-for-children',
        },
      },
    );
    expect(r.status, r.stderr).toBe(0);
    const keys = r.stdout.trim().split(',');
    expect(keys).toEqual(expect.arrayContaining(['DB_PASSWORD', 'DB_USER', 'HOME', 'LANG', 'PATH', 'TERM']));
    expect(keys).not.toContain('EXTRA_PARENT_VAR');
    expect(keys).not.toContain('AWS_SECRET_ACCESS_KEY');
    expect(keys).not.toContain('KEYSTACK_CONFIG_DIR');
    // Without --isolated the child inherits keystack's environment.
    const inherit = cli(e, ['run', ...node('console.log(process.env.EXTRA_PARENT_VAR)')], {
      env: { EXTRA_PARENT_VAR: 'kept' },
    });
    expect(inherit.stdout.trim()).toBe('kept');
  });

  it('passes a large environment (2,000 variables from one secret) whole, with one read', () => {
    const r = cli(e, [
      'run',
      '--no-mask',
      '-s',
      'big',
      ...node(
        'const ks = Object.keys(process.env).filter((k) => k.startsWith("BIG_K")).sort(); console.log(ks.length, require("node:crypto").createHash("sha256").update(ks.map((k) => k + "=" + process.env[k]).join("\\n")).digest("hex"))',
      ),
    ]);
    expect(r.status, r.stderr).toBe(0);
    const want = Array.from({ length: 2000 }, (_, i) => `BIG_K${i}`)
      .sort()
      .map((k) => `${k}=v${k.slice(5)}-${'x'.repeat(40)}`)
      .join('\n');
    expect(r.stdout.trim()).toBe(`2000 ${createHash('sha256').update(want).digest('hex')}`);
  });

  it('a value too large for one variable gives a clear error, not a crash', () => {
    const r = cli(e, ['run', '-s', 'huge', '--', 'true']);
    expectCleanError(r, 1, { message: /too large for the operating system \(E2BIG\)/ });
  });

  it('a --manager or --stack that does not exist is an error even when nothing refers to a secret', () => {
    const marker = join(e.configDir, 'ran-with-bad-manager');
    expectCleanError(cli(e, ['run', '-m', 'nosuch', '--', 'touch', marker]), 1, { message: /nosuch/ });
    expectCleanError(cli(e, ['run', '--stack', 'nosuch', '--', 'touch', marker]), 1, { message: /nosuch/ });
    expect(existsSync(marker)).toBe(false);
  });

  it('a command that is not found exits 127, one that cannot be executed 126, with one clear line', () => {
    const nf = cli(e, ['run', '--', 'keystack-no-such-command-xyz']);
    expect(nf.status).toBe(127);
    expect(nf.stderr).toMatch(/^Error: command not found: keystack-no-such-command-xyz\nHint: .+\n$/);
    const file = join(e.configDir, 'not-exec.sh');
    writeFileSync(file, '#!/bin/sh\necho hi\n', { mode: 0o644 });
    const ne = cli(e, ['run', '--', file]);
    expect(ne.status).toBe(126);
    expect(ne.stderr).toMatch(/^Error: cannot execute .*not-exec\.sh \(EACCES\)\nHint: .+\n$/);
  });
});

describe('keystack run without `--`', () => {
  // A script file: node reads the options after it as the script's own.
  const argvScript = () => {
    const file = join(e.configDir, 'argv.js');
    writeFileSync(
      file,
      'console.log(JSON.stringify({ argv: process.argv.slice(2), has: typeof process.env.DB_PASSWORD === "string" }))',
    );
    return file;
  };

  it('runs the command, and its own options (even ones keystack also has) go to it, not to keystack', () => {
    const r = cli(e, ['run', '-s', 'db', process.execPath, argvScript(), '-s', 'x', '--env', 'A=b', '--help']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ argv: ['-s', 'x', '--env', 'A=b', '--help'], has: true });
  });

  it('keeps `run -- cmd` as it was', () => {
    const r = cli(e, ['run', '-s', 'db', '--', process.execPath, argvScript(), '-s', '--', 'y']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ argv: ['-s', '--', 'y'], has: true });
  });
});

describe('keystack run: exit codes and signals', () => {
  it('exits with the child’s exit code and prints nothing of its own', () => {
    for (const code of [0, 1, 3, 42, 255]) {
      const r = cli(e, ['run', '-s', 'db', ...node(`process.exit(${code})`)]);
      expect(r.status).toBe(code);
      expect(r.stdout + r.stderr).toBe('');
    }
    const json = cli(e, ['--json', 'run', '--', 'sh', '-c', 'echo child-output; exit 5']);
    expect([json.status, json.stdout]).toEqual([5, 'child-output\n{\n  "exitCode": 5\n}\n']);
  });

  it('exits 128+N when the child dies of signal N', () => {
    for (const [sig, n] of [
      ['TERM', 15],
      ['KILL', 9],
      ['SEGV', 11],
    ] as const) {
      const r = cli(e, ['run', '--', 'sh', '-c', `kill -${sig} $$`]);
      expect(r.status, sig).toBe(128 + n);
      expect(r.stderr).toBe('');
    }
  });

  it.each([
    ['SIGINT', 2],
    ['SIGTERM', 15],
    ['SIGHUP', 1],
    ['SIGQUIT', 3],
  ] as const)('forwards %s to the child exactly once, and passes on its exit', async (signal, n) => {
    for (const mask of ['--mask', '--no-mask']) {
      const child = `let n = 0; process.on(${JSON.stringify(signal)}, () => { n++; setTimeout(() => { console.log("got " + n); process.exit(${n + 40}); }, 200); }); console.log("ready"); setInterval(() => {}, 1000);`;
      const k = start(['run', mask, '-s', 'db', ...node(child)]);
      await k.waitFor('ready');
      process.kill(k.p.pid as number, signal);
      expect(await k.exited).toBe(n + 40);
      expect(k.out()).toBe('ready\ngot 1\n');
      expect(k.err()).toBe('');
    }
  });

  it.each([
    ['SIGINT', 2],
    ['SIGTERM', 15],
    ['SIGHUP', 1],
  ] as const)('a child killed by a forwarded %s makes keystack exit 128+N', async (signal, n) => {
    const k = start(['run', ...node('console.log("ready"); setInterval(() => {}, 1000);')]);
    await k.waitFor('ready');
    process.kill(k.p.pid as number, signal);
    expect(await k.exited).toBe(128 + n);
  });

  it('Ctrl-C at a terminal reaches the child, and keystack passes on how it exited', () => {
    const child =
      'let n = 0; process.on("SIGINT", () => { n++; setTimeout(() => { console.log("sigints=" + n); process.exit(0); }, 300); }); console.log("ready"); setInterval(() => {}, 1000);';
    for (const mask of ['--mask', '--no-mask']) {
      const r = inPty(e, ['run', mask, ...node(child)], [{ expect: 'ready', send: '\x03' }]);
      expect(r.stdout, mask).toMatch(/sigints=[12]\b/);
      expect(r.status).toBe(0);
    }
  });
});

describe('keystack run: values stay out of argv, keystack’s own environment and output', () => {
  it('neither keystack’s /proc/<pid>/environ and cmdline nor the child’s argv hold a value', async () => {
    const k = start([
      'run',
      '-s',
      'db',
      '--env',
      'T={{api.token}}',
      ...node('console.log("child " + process.pid); setTimeout(() => {}, 3000)'),
    ]);
    await k.waitFor('child ');
    const childPid = Number(/child (\d+)/.exec(k.out())?.[1]);
    const ksPid = k.p.pid as number;
    const proc = (pid: number, f: string) => readFileSync(`/proc/${pid}/${f}`);
    const token = Buffer.from(TOKEN);
    for (const value of [Buffer.from(PASSWORD), token]) {
      expect(proc(ksPid, 'environ').includes(value)).toBe(false);
      expect(proc(ksPid, 'cmdline').includes(value)).toBe(false);
      expect(proc(childPid, 'cmdline').includes(value)).toBe(false);
      // The check can fail: the value is where it belongs, in the child's environment.
      expect(proc(childPid, 'environ').includes(value)).toBe(true);
    }
    process.kill(ksPid, 'SIGTERM');
    await k.exited;
    expect(k.out() + k.err()).not.toContain(PASSWORD);
  });
});

describe('keystack run: masking', () => {
  const forms = `
    const v = process.env.T;
    const b = Buffer.from(v);
    const forms = {
      raw: v, json: JSON.stringify(v).slice(1, -1), json2: JSON.stringify(JSON.stringify(v).slice(1, -1)).slice(1, -1),
      base64: b.toString("base64"), base64nopad: b.toString("base64").replace(/=+$/, ""), base64url: b.toString("base64url"),
      url: encodeURIComponent(v), form: new URLSearchParams({ v }).toString().slice(2), hex: b.toString("hex"), HEX: b.toString("hex").toUpperCase(),
    };
    for (const [k, f] of Object.entries(forms)) (k.length % 2 ? process.stdout : process.stderr).write(k + ": " + f + "\\n");
  `;

  it('masks each encoded form on stdout and stderr by default; --no-mask passes them through', () => {
    const masked = cli(e, ['run', '--env', 'T={{api.token}}', ...node(forms)]);
    expect(masked.status, masked.stderr).toBe(0);
    const all = masked.stdout + masked.stderr;
    for (const k of ['raw', 'json', 'json2', 'base64', 'base64nopad', 'base64url', 'url', 'form', 'hex', 'HEX'])
      expect(all).toMatch(new RegExp(`^${k}: \\*\\*\\*$`, 'm'));
    const b = Buffer.from(TOKEN);
    for (const f of [TOKEN, b.toString('base64'), b.toString('hex'), encodeURIComponent(TOKEN)])
      expect(all).not.toContain(f);
    const plain = cli(e, ['run', '--no-mask', '--env', 'T={{api.token}}', ...node(forms)]);
    expect(plain.stdout + plain.stderr).toContain(b.toString('hex'));
  });

  it('masks a value the child writes in pieces across pipe chunks, and keeps other output intact', () => {
    const script =
      'const v = process.env.DB_PASSWORD; const fs = require("node:fs"); fs.writeSync(1, "a".repeat(70000) + v.slice(0, 5)); setTimeout(() => { fs.writeSync(1, v.slice(5) + " end\\n"); }, 30);';
    const r = cli(e, ['run', '-s', 'db', ...node(script)]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${'a'.repeat(70000)}*** end\n`);
  });

  it('a reader that goes away stops the child too (`keystack run -- yes | head -1` ends), and the exit is not 0', () => {
    // `timeout` (exit 124) stops a keystack that would otherwise run forever, and its child with it.
    const r = spawnSync(
      'bash',
      ['-c', `timeout 15 "$0" "$1" run -s db -- yes | head -1; echo "status \${PIPESTATUS[0]}"`, process.execPath, BIN],
      { env: e.env, encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.stdout).toMatch(/^y\nstatus (?!124\n)[1-9]\d*\n$/);
  });

  /** How many 10-character runs of `value` `out` contains (the value itself contains them all). */
  const runsOf = (out: string, value: string) => {
    let n = 0;
    for (let i = 0; i + 10 <= value.length; i++) if (out.includes(value.slice(i, i + 10))) n++;
    return n;
  };

  it('masks a value written one character every 120 ms, or in three parts 300 ms apart: no pause releases part of it', async () => {
    const perChar =
      'const v = process.env.DB_PASSWORD; let i = 0; process.stdout.write("password: "); const t = setInterval(() => { if (i < v.length) process.stdout.write(v[i++]); else { clearInterval(t); process.stdout.write(" done\\n"); } }, 120);';
    const inParts =
      'const v = process.env.DB_PASSWORD; process.stdout.write("password: "); [v.slice(0, 6), v.slice(6, 12), v.slice(12) + " done\\n"].forEach((p, i) => setTimeout(() => process.stdout.write(p), 300 * i));';
    const runs = [perChar, inParts].map((script) => start(['run', '-s', 'db', ...node(script)]));
    for (const k of runs) {
      const code = await k.exited;
      expect(runsOf(k.out() + k.err(), PASSWORD), 'runs of the value in the output').toBe(0);
      expect(code, k.err()).toBe(0);
      expect(k.out()).toBe(`password: *** done\n`);
    }
  });

  it('passes on a prompt without a newline at once, while the child waits', async () => {
    const k = start([
      'run',
      '-s',
      'db',
      ...node('process.stdout.write("Password: "); setTimeout(() => console.log("\\nbye"), 1000)'),
    ]);
    await k.waitFor('Password: ');
    // Seen a second before the child writes again, not held until then (or until it exits).
    expect(k.out()).toBe('Password: ');
    expect(await k.exited).toBe(0);
    expect(k.out()).toBe('Password: \nbye\n');
  });

  it('passes on a `\\r` progress bar as it is written, though the child never pauses', async () => {
    // A step every 50 ms (no quiet moment); told which step the reader has seen, the child says how far it had got.
    const child =
      'let n = 0; const t = setInterval(() => { process.stdout.write("\\r" + String(++n).padStart(3) + "%"); if (n === 100) process.exit(3); }, 50); process.stdin.once("data", (d) => { clearInterval(t); process.stdout.write("\\nahead " + (n - Number(d)) + "\\n"); process.exit(0); });';
    const p = spawn(process.execPath, [BIN, 'run', '--env', 'T={{api.token}}', ...node(child)], {
      env: e.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\r  5%') && p.stdin.writable) p.stdin.end('5\n');
    });
    const code = await new Promise<number | null>((res) => p.on('close', res));
    expect(code, out).toBe(0);
    // Before, masking held back the longest form's length (17 steps here) until output paused.
    expect(Number(/ahead (\d+)/.exec(out)?.[1])).toBeLessThan(10);
  });
});

describe('keystack run: a vault-backed manager', () => {
  const addr = requireEnv('BAO_ADDR', 'the OpenBao dev server');
  const token = requireEnv('BAO_TOKEN', 'the OpenBao dev server root token');
  let v: CliEnv;
  beforeAll(() => {
    v = tempEnv({ VAULT_TOKEN: token });
    expect(cli(v, ['secrets-manager', 'register', 'vlt', '--flavor=vault', `--url=${addr}`]).status).toBe(0);
    expect(cli(v, ['stack', 'register', 'vs', '-x', 'vlt']).status).toBe(0);
    expect(cli(v, ['stack', 'set', 'vs']).status).toBe(0);
    expect(cli(v, ['secret', 'register', 'db', '--password=vault-pw-0123', '--user=vuser']).status).toBe(0);
    expect(cli(v, ['stack', 'set', 'default']).status).toBe(0);
  });
  afterAll(() => {
    cli(v, ['stack', 'set', 'vs']);
    cli(v, ['secret', 'delete-all', '-y']);
  });

  it('resolves through --manager and --stack, and reports what the vault lacks', () => {
    for (const pick of [
      ['-m', 'vlt'],
      ['--stack', 'vs'],
    ]) {
      const r = cli(v, [
        'run',
        ...pick,
        '--no-mask',
        '-s',
        'db',
        ...node('console.log(process.env.DB_USER, process.env.DB_PASSWORD === "vault-pw-0123")'),
      ]);
      expect(r.stdout.trim(), r.stderr).toBe('vuser true');
    }
    // The default stack's local manager has no 'db'.
    expectCleanError(cli(v, ['run', '-s', 'db', '--', 'true']), 1, { message: /no secret 'db'/ });
    expectCleanError(cli(v, ['run', '-m', 'vlt', '-s', 'db.nokey', '--env', 'X={{gone.k}}', '--', 'true']), 1, {
      message: /\{\{gone\.k\}\} \(no secret 'gone'\), \{\{db\.nokey\}\} \(secret 'db' has no key 'nokey'\)/,
    });
  });
});
