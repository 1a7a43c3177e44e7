/**
 * `main(argv, { env, io })` in-process: no binary is spawned, the streams are strings, and the
 * exit code is the return value. This is how handler tests run in the fast tier; the spawned-binary
 * tests stay for exit codes, signals, TTY and the bundle.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function sink(): { write(s: string, done?: (e?: Error | null) => void): boolean; text: string } {
  return {
    text: '',
    write(s, done) {
      this.text += s;
      done?.();
      return true;
    },
  };
}

/** A fresh config dir per test; nothing from the developer's environment is seen. */
function keystack(): (argv: string[], stdin?: string) => Promise<Ran> {
  const dir = mkdtempSync(join(tmpdir(), 'keystack-inproc-'));
  const env = {
    HOME: dir,
    KEYSTACK_CONFIG_DIR: join(dir, 'config'),
    KEYSTACK_PASSPHRASE: 'in-process test passphrase',
  };
  return async (argv, stdin) => {
    const out = sink();
    const err = sink();
    const code = await main(argv, { env, cwd: dir, io: { out, err, stdin } });
    return { code, stdout: out.text, stderr: err.text };
  };
}

describe('main() in-process', () => {
  it('runs a table command (keys) and returns its exit code instead of exiting', async () => {
    const run = keystack();
    const shown = await run(['keys', 'show-public', '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    const key = JSON.parse(shown.stdout) as { role: string; id: string; publicKey: string };
    expect(key.role).toBe('client');
    expect(key.publicKey).toMatch(/^keystack-ed25519:/);

    const trusted = await run(['keys', 'trust', '--role', 'client', key.publicKey, '--name', 'self']);
    expect(trusted.code, trusted.stderr).toBe(0);
    expect(trusted.stdout).toContain(`Trusted client key ${key.id} (self)`);

    const listed = await run(['keys', 'list', '--json']);
    expect(JSON.parse(listed.stdout)).toEqual({
      own: [{ role: 'client', id: key.id, next: null }],
      trusted: [{ role: 'client', id: key.id, name: 'self' }],
    });
  });

  it('reads standard input from io.stdin and keeps values out of stderr (legacy wiring too)', async () => {
    const run = keystack();
    const registered = await run(['secret', 'register', 'db', '--user=admin', '--password=@-'], 'in-process-pw-1234');
    expect(registered.code, registered.stderr).toBe(0);
    const got = await run(['secret', 'get', 'db', '--key', 'password']);
    expect(got).toEqual({ code: 0, stdout: 'in-process-pw-1234', stderr: '' });
  });

  it('reports usage errors as exit 2 with the JSON error document on the injected stdout', async () => {
    const run = keystack();
    const bad = await run(['keys', 'untrust', '--json']);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout)).toMatchObject({
      error: { code: 'usage', message: expect.stringContaining("missing required argument 'key'") },
    });
    const unknown = await run(['keys', 'untrust', 'nobody']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("no trusted worker key matches 'nobody'");
  });

  it('never asks: without a terminal a confirmation is refused', async () => {
    const run = keystack();
    await run(['secret', 'register', 'db', '--a=1']);
    const refused = await run(['secret', 'delete', 'db']);
    expect(refused.code).toBe(2);
    expect((await run(['secret', 'list', '--json'])).stdout).toContain('"db"');
  });
});
