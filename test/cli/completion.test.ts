/**
 * Shell completion (issue #12): the scripts are valid for their shells, and `keystack __complete`
 * offers commands, options and names from the command tree, the config store and (only at a
 * secret-name position) the backend.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, cli, tempEnv, type CliEnv } from '../support/cli.js';

const has = (shell: string) => spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;

function complete(e: CliEnv, words: string[], env: Record<string, string> = {}): string[] {
  const r = cli(e, ['__complete', '--', ...words], { env });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

function script(e: CliEnv, shell: string): string {
  const r = cli(e, ['completion', shell]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/** A `keystack` on PATH for the shells, running the built binary with this test's config dir. */
function onPath(e: CliEnv): Record<string, string> {
  const dir = join(e.configDir, 'bin');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'keystack'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  chmodSync(join(dir, 'keystack'), 0o755);
  return { ...e.env, PATH: `${dir}:${e.env['PATH'] ?? ''}` };
}

describe('keystack completion', () => {
  const e = tempEnv();
  expect(cli(e, ['secret', 'register', 'db_password', '--k=v']).status).toBe(0);
  expect(cli(e, ['secret', 'register', 'db_user', '--k=v']).status).toBe(0);
  expect(cli(e, ['secrets-manager', 'register', 'team', '--flavor=local']).status).toBe(0);
  expect(cli(e, ['secret', 'register', 'team_only', '-m', 'team', '--k=v']).status).toBe(0);
  expect(cli(e, ['stack', 'register', 'teamstack', '-x', 'team']).status).toBe(0);
  const workerKey = cli(e, ['keys', 'show-public', '--role', 'worker']).stdout.trim();
  expect(cli(e, ['keys', 'trust', workerKey, '--name', 'gpu-box']).status).toBe(0);

  it('the bash script is valid bash (bash -n) and completes through the real function', () => {
    const bash = script(e, 'bash');
    const file = join(e.configDir, 'k.bash');
    writeFileSync(file, bash);
    expect(spawnSync('bash', ['-n', file], { encoding: 'utf8' }).status).toBe(0);
    const run = (line: string) => {
      const words = line.split(' ');
      const r = spawnSync(
        'bash',
        [
          '-c',
          `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _keystack_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ],
        { env: onPath(e), encoding: 'utf8' },
      );
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.split('\n').filter(Boolean);
    };
    expect(run('keystack secret ge')).toEqual(['get']);
    expect(run('keystack secret get db_')).toEqual(['db_password', 'db_user']);
    expect(run('keystack stack set ')).toEqual(['default', 'teamstack']);
    // bash splits `--manager=team` at '=': the manager is still read, and names complete after '='.
    expect(run('keystack secret get --manager = team ')).toEqual(['team_only']);
    expect(run('keystack secret list --manager = ')).toEqual(['default', 'team']);
    expect(run('keystack secret list --manager = t')).toEqual(['team']);
  });

  for (const shell of ['zsh', 'fish']) {
    it(`the ${shell} script is valid ${shell} (${shell} -n)`, (t) => {
      const text = script(e, shell);
      expect(text).toContain('keystack __complete --');
      if (!has(shell)) return t.skip(`${shell} is not installed, so the ${shell} script could not be parsed`);
      const file = join(e.configDir, `k.${shell}`);
      writeFileSync(file, text);
      const r = spawnSync(shell, ['-n', file], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    });
  }

  it('refuses an unknown shell as a usage error', () => {
    const r = cli(e, ['completion', 'tcsh']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no completion for shell 'tcsh'\nHint: Pick one of: bash, zsh, fish/);
  });

  it('offers commands from the command tree, hiding internal ones', () => {
    const top = complete(e, ['']);
    for (const c of ['status', 'secret', 'secrets-manager', 'stack', 'completion', 'pipeline', 'orchestrator'])
      expect(top).toContain(c);
    expect(top.some((c) => c.startsWith('__'))).toBe(false);
    expect(complete(e, ['secret', ''])).toEqual(
      expect.arrayContaining(['describe', 'get', 'list', 'register', 'update', 'delete', 'delete-all']),
    );
    expect(complete(e, ['secrets-manager', 'fl'])).toEqual(['flavor']);
    expect(complete(e, ['secrets-manager', 'flavor', ''])).toEqual(
      expect.arrayContaining(['describe', 'list', 'register']),
    );
    expect(complete(e, ['pipeline', ''])).not.toContain('__step');
    expect(complete(e, ['help', 'secret', 'g'])).toEqual(['get']);
  });

  it('offers options, with the global ones', () => {
    const opts = complete(e, ['secret', 'get', 'db_user', '-']);
    expect(opts).toEqual(expect.arrayContaining(['--key', '-k', '--manager', '-m', '--stack', '--json', '--help']));
    expect(complete(e, ['secret', 'delete', 'x', '--y'])).toEqual(['--yes']);
  });

  it('offers secret names from the chosen manager, and names of stacks, managers, flavors, schemas and components', () => {
    expect(complete(e, ['secret', 'get', ''])).toEqual(['db_password', 'db_user']);
    expect(complete(e, ['secrets-manager', 'secret', 'describe', 'db_p'])).toEqual(['db_password']);
    expect(complete(e, ['secret', 'get', '-m', 'team', ''])).toEqual(['team_only']);
    expect(complete(e, ['secret', 'get', '--manager=team', ''])).toEqual(['team_only']);
    expect(complete(e, ['secret', 'delete', '--stack', 'teamstack', 't'])).toEqual(['team_only']);
    expect(complete(e, ['secret', 'list', '-m', ''])).toEqual(['default', 'team']);
    expect(complete(e, ['secret', 'list', '--stack', 't'])).toEqual(['teamstack']);
    expect(complete(e, ['stack', 'register', 's', '-x', ''])).toEqual(['default', 'team']);
    expect(complete(e, ['secrets-manager', 'describe', ''])).toEqual(['default', 'team']);
    expect(complete(e, ['secrets-manager', 'flavor', 'describe', ''])).toEqual([
      'aws',
      'azure',
      'gcp',
      'github',
      'local',
      'vault',
    ]);
    expect(complete(e, ['secrets-manager', 'register', 'x', '--flavor', 'a'])).toEqual(['aws', 'azure']);
    expect(complete(e, ['orchestrator', 'flavor', 'describe', 'loc'])).toEqual(['local', 'local_process']);
    expect(complete(e, ['orchestrator', 'describe', ''])).toEqual(['default']);
    expect(complete(e, ['secret', 'register', 'x', '-s', 'a'])).toEqual(
      expect.arrayContaining(['arbitrary', 'aws', 'azure']),
    );
    expect(complete(e, ['schema', 'describe', 'my'])).toEqual(['mysql']);
    expect(complete(e, ['completion', ''])).toEqual(['bash', 'fish', 'zsh']);
    expect(complete(e, ['stack', 'validate', '--level', ''])).toEqual([
      'NONE',
      'SECRET_AND_KEY_EXISTS',
      'SECRET_EXISTS',
    ]);
    expect(complete(e, ['keys', 'rotate', '--role', ''])).toEqual(['client', 'worker']);
    const workerId = cli(e, ['--json', 'keys', 'list']).stdout.match(
      /"id": "([0-9a-f]{16})",\s*"name": "gpu-box"/,
    )?.[1];
    expect(workerId).toMatch(/^[0-9a-f]{16}$/);
    expect(complete(e, ['keys', 'untrust', ''])).toEqual([workerId, 'gpu-box'].sort());
    expect(complete(e, ['keys', 'untrust', '--role', 'client', ''])).toEqual([]);
  });

  it('asks the backend only at a secret-name position', () => {
    // A wrong key makes every read of the store fail: only completing a secret name notices.
    const broken = { KEYSTACK_LOCAL_KEY: Buffer.alloc(32, 9).toString('base64') };
    expect(complete(e, ['stack', 'set', ''], broken)).toEqual(['default', 'teamstack']);
    expect(complete(e, ['secret', 'get', '-'], broken)).toContain('--key');
    expect(complete(e, ['secret', ''], broken)).toContain('get');
    expect(cli(e, ['__complete', '--', 'secret', 'get', ''], { env: broken }).status).toBe(1);
  });
});
