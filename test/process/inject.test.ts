import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Keystack } from '../../src/stack/client.js';
import { writePrivateFileAtomic } from '../../src/support/atomic-file.js';
import { cli, expectCleanError, tempEnv, type CliEnv } from '../support/cli.js';

const PEM = '-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END KEY-----\n';
let e: CliEnv;
let template: string;
beforeAll(async () => {
  e = tempEnv();
  const ks = new Keystack({ configDir: join(e.configDir, 'config'), env: e.env });
  const sm = await ks.secretsManager();
  await sm.register('db', { user: 'admin', password: 'p$&w$1rd' });
  await sm.register('tls', { key: PEM });
  await ks.close();
  template = join(e.configDir, 'app.tmpl');
  writeFileSync(
    template,
    'url: postgres://{{db.user}}:{{db.password}}@host/db\nkey: |\n{{tls.key}}\nhelm: {{ .Values.x }} {{notaref}}\nagain: {{db.user}}\n',
  );
});
const rendered = `url: postgres://admin:p$&w$1rd@host/db\nkey: |\n${PEM}\nhelm: {{ .Values.x }} {{notaref}}\nagain: admin\n`;

describe('keystack inject', () => {
  it('renders every reference inside the text to stdout; other {{ }} forms stay as they are', () => {
    const r = cli(e, ['inject', '-i', template]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(rendered);
    expect(cli(e, ['inject', '-i', '-'], { input: 'x={{db.user}}' }).stdout).toBe('x=admin');
  });

  it('writes -o as a 0600 file, whatever the umask, and never overwrites one without -f', () => {
    const out = join(e.configDir, 'out.yaml');
    const r = spawnSync(
      'sh',
      [
        '-c',
        `umask 000; exec "$0" "$@"`,
        process.execPath,
        resolve('bin/keystack.cjs'),
        'inject',
        '-i',
        template,
        '-o',
        out,
      ],
      { env: e.env, encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Wrote .*out\.yaml \(mode 0600\): 3 references from 2 secrets\.\n$/);
    expect(r.stdout).not.toContain('p$&w');
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readFileSync(out, 'utf8')).toBe(rendered);

    writeFileSync(out, 'keep me', { mode: 0o644 });
    expectCleanError(cli(e, ['inject', '-i', template, '-o', out]), 1, {
      message: /out\.yaml already exists; it was not changed/,
    });
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    expect(cli(e, ['inject', '-i', template, '-o', out, '-f']).status).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(rendered);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readdirSync(e.configDir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('reports every missing reference at once and writes nothing', () => {
    const t = join(e.configDir, 'missing.tmpl');
    writeFileSync(t, '{{db.user}} {{nope.a}} {{db.nokey}} {{nope.b}}');
    const out = join(e.configDir, 'missing.out');
    const r = cli(e, ['inject', '-i', t, '-o', out]);
    expectCleanError(r, 1, {
      message:
        /\{\{nope\.a\}\} \(no secret 'nope'\), \{\{db\.nokey\}\} \(secret 'db' has no key 'nokey'\), \{\{nope\.b\}\} \(no secret 'nope'\); nothing was written/,
    });
    expect(existsSync(out)).toBe(false);
  });

  it('a template that cannot be read is a one-line error', () => {
    expectCleanError(cli(e, ['inject', '-i', join(e.configDir, 'nosuch')]), 1, {
      message: /cannot read the template .*nosuch \(ENOENT\)/,
    });
    expectCleanError(cli(e, ['inject']), 2);
  });
});

describe('writePrivateFileAtomic', () => {
  it('a failure between write and rename leaves the old file and no temp file', () => {
    const f = join(e.configDir, 'atomic-a');
    writeFileSync(f, 'old');
    expect(() =>
      writePrivateFileAtomic(f, 'new content', {
        overwrite: true,
        beforeCommit: () => {
          throw new Error('injected fault');
        },
      }),
    ).toThrow('injected fault');
    expect(readFileSync(f, 'utf8')).toBe('old');
    expect(readdirSync(e.configDir).filter((x) => x.startsWith('.atomic-a'))).toEqual([]);
  });

  it('a process killed between write and rename leaves no partial file under the name', () => {
    for (const overwrite of [false, true]) {
      const f = join(e.configDir, `atomic-kill-${overwrite}`);
      if (overwrite) writeFileSync(f, 'old');
      const script = `import { writePrivateFileAtomic } from ${JSON.stringify(resolve('dist/lib/support/atomic-file.js'))};
        writePrivateFileAtomic(${JSON.stringify(f)}, 'x'.repeat(8 * 1024 * 1024), { overwrite: ${overwrite}, beforeCommit: () => process.kill(process.pid, 'SIGKILL') });`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
      expect(r.signal).toBe('SIGKILL');
      if (overwrite) expect(readFileSync(f, 'utf8')).toBe('old');
      else expect(existsSync(f)).toBe(false);
      // What is left is the complete temp file, private.
      const left = readdirSync(e.configDir).filter((x) => x.startsWith(`.atomic-kill-${overwrite}.`));
      expect(left).toHaveLength(1);
      expect(statSync(join(e.configDir, left[0] as string)).mode & 0o777).toBe(0o600);
    }
  });

  it('returns false, and keeps the file, when it exists and overwrite is off', () => {
    const f = join(e.configDir, 'atomic-b');
    writeFileSync(f, 'old');
    expect(writePrivateFileAtomic(f, 'new')).toBe(false);
    expect(readFileSync(f, 'utf8')).toBe('old');
    expect(writePrivateFileAtomic(f, 'new', { overwrite: true })).toBe(true);
    expect(readFileSync(f, 'utf8')).toBe('new');
  });
});
