import { spawn, spawnSync } from 'node:child_process';
import { expect } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const BIN = resolve('bin/keystack.cjs');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface CliEnv {
  configDir: string;
  env: Record<string, string>;
}

/** A fresh config dir and a minimal environment: nothing from the developer's own setup leaks in. */
export function tempEnv(extra: Record<string, string> = {}): CliEnv {
  const configDir = mkdtempSync(join(tmpdir(), 'keystack-cli-'));
  return {
    configDir,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: configDir,
      KEYSTACK_CONFIG_DIR: join(configDir, 'config'),
      ...extra,
    },
  };
}

export function cli(
  e: CliEnv,
  args: readonly string[],
  opts: { input?: string | Buffer; env?: Record<string, string>; cwd?: string } = {},
): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...e.env, ...opts.env },
    input: opts.input ?? '',
    cwd: opts.cwd ?? process.cwd(),
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function cliAsync(e: CliEnv, args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: { ...e.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (status) => res({ status, stdout, stderr }));
  });
}

/** Runs a command in a pseudo-terminal, answering prompts: each step waits for `expect`, then types `send`. */
export function inPty(
  e: CliEnv,
  args: readonly string[],
  steps: { expect: string; send: string }[],
  env: Record<string, string> = {},
): CliResult {
  const script = `
import os, pty, sys, json, time, select
steps = json.loads(sys.argv[1]); argv = json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out = b''; i = 0; pos = 0; deadline = time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if fd in r:
        try: chunk = os.read(fd, 4096)
        except OSError: break
        if not chunk: break
        out += chunk
    while i < len(steps):
        at = out.find(steps[i]['expect'].encode(), pos)
        if at < 0: break
        pos = at + len(steps[i]['expect'].encode())
        time.sleep(0.05)
        os.write(fd, steps[i]['send'].encode()); i += 1
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf8', 'replace'))
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 99)
`;
  const r = spawnSync(
    'python3',
    ['-c', script, JSON.stringify(steps), JSON.stringify([process.execPath, BIN, ...args])],
    {
      env: { ...e.env, ...env, TERM: 'xterm' },
      encoding: 'utf8',
      timeout: 90_000,
    },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * One error line plus at most one hint line, nothing on stdout, no stack trace; `forbid` replaces the
 * stack-trace pattern stderr must not match (e.g. to also forbid the "This is a bug" hint) and `message` one it must.
 */
export function expectCleanError(
  r: CliResult,
  code: 1 | 2,
  o: { message?: RegExp | undefined; forbid?: RegExp } = {},
): void {
  expect(r.status, r.stderr).toBe(code);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^Error: \S/);
  expect(lines.length, r.stderr).toBeLessThanOrEqual(2);
  if (lines[1] !== undefined) expect(lines[1]).toMatch(/^Hint: \S/);
  expect(r.stderr).not.toMatch(o.forbid ?? /\n\s+at /);
  if (o.message) expect(r.stderr).toMatch(o.message);
}
