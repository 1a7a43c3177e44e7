/**
 * Issue 9 (integrity): values are never altered on the way in, failures never exit 0, config
 * edits say how to proceed, and errors caused by the environment are not blamed on keystack.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, cli, tempEnv, type CliEnv, type CliResult } from '../support/cli.js';

const MAX = 1024 * 1024;

/** One error line plus one hint line, no stack trace. */
function expectCleanError(r: CliResult, code: 1 | 2, message?: RegExp): void {
  expect(r.status, r.stderr).toBe(code);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^Error: \S/);
  expect(lines.length, r.stderr).toBeLessThanOrEqual(2);
  if (lines[1] !== undefined) expect(lines[1]).toMatch(/^Hint: \S/);
  expect(r.stderr).not.toMatch(/\n\s+at |This is a bug/);
  if (message) expect(r.stderr).toMatch(message);
}

function value(e: CliEnv, name: string, key: string): Buffer {
  const r = spawnSync(process.execPath, [BIN, 'secret', 'get', name, '--key', key], { env: e.env });
  expect(r.status, r.stderr.toString()).toBe(0);
  return r.stdout;
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
    expectCleanError(cli(e, ['secret', 'register', 'a', '--v=@-'], { input: '' }), 1, /standard input for 'v' is empty/);
    expectCleanError(cli(e, ['secret', 'register', 'a', '--v=@-'], { input: '\n' }), 1, /is empty/);
    expect(names(e)).toEqual([]);
  });

  it('@/dev/stdin counts as stdin: same stripping, and only one key may read it', () => {
    const e = tempEnv();
    expect(cli(e, ['secret', 'register', 'a', '--v=@/dev/stdin'], { input: 'tok\n' }).status).toBe(0);
    expect(value(e, 'a', 'v').toString()).toBe('tok');
    expectCleanError(cli(e, ['secret', 'register', 'b', '--x=@-', '--y=@/dev/stdin'], { input: 'tok\n' }), 2, /read standard input/);
    expectCleanError(cli(e, ['secret', 'register', 'b', '--x=@/proc/self/fd/0', '--y=@/dev/fd/0'], { input: 'tok\n' }), 2, /read standard input/);
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
    const r = spawnSync('sh', ['-c', `head -c 3000000 /dev/zero | tr '\\0' q > "$1" & exec "$2" "$3" secret register z "--v=@$1"`, 'sh', fifo, process.execPath, BIN], { env: e.env, encoding: 'utf8' });
    expectCleanError({ status: r.status, stdout: r.stdout, stderr: r.stderr }, 1, /over 1048576 bytes/);
    expect(names(e)).toEqual([]);
  });
});
