import { describe, expect, it } from 'vitest';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cli, tempEnv } from '../support/cli.js';

const json = (r: { stdout: string }) => JSON.parse(r.stdout) as unknown;

describe('keystack secrets-manager', () => {
  it('registers managers with a UUID, scope and namespace stored with them', () => {
    const e = tempEnv();
    const r = cli(e, [
      '--json',
      'secrets-manager',
      'register',
      'team',
      '--flavor=local',
      '--scope=namespace',
      '--namespace=ml',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const rec = json(r) as { id: string; config: Record<string, unknown> };
    expect(rec.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(rec.config).toEqual({ max_versions: 10, scope: 'namespace', namespace: 'ml', scope_prefix: 'keystack' });
    const list = (
      json(cli(e, ['--json', 'secrets-manager', 'list'])) as { managers: { name: string; active: boolean }[] }
    ).managers;
    expect(list.map((m) => [m.name, m.active])).toEqual([
      ['default', true],
      ['team', false],
    ]);
    const desc = cli(e, ['secrets-manager', 'describe', 'team']);
    expect(desc.stdout).toMatch(/namespace\s+ml/);
    expect(cli(e, ['secrets-manager', 'describe']).stdout).toMatch(/name\s+default/);
  });

  it('registers a manager under a given UUID (--uuid), refusing one already registered and malformed ones', () => {
    const e = tempEnv();
    const uuid = '3F2A6C1E-9B7D-4E5F-8A1B-2C3D4E5F6A7B';
    const r = cli(e, ['--json', 'secrets-manager', 'register', 'adopted', '--flavor=local', `--uuid=${uuid}`]);
    expect(r.status, r.stderr).toBe(0);
    expect((json(r) as { id: string }).id).toBe(uuid.toLowerCase());
    expect(cli(e, ['secrets-manager', 'describe', 'adopted']).stdout).toMatch(
      new RegExp(`id\\s+${uuid.toLowerCase()}`),
    );

    const again = cli(e, ['secrets-manager', 'register', 'twin', '--flavor=local', `--uuid=${uuid.toLowerCase()}`]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain(`the id ${uuid.toLowerCase()} is already registered, to secrets-manager 'adopted'`);
    expect(again.stderr).toMatch(/Hint: .*keystack stack update -x adopted/);
    const bad = cli(e, ['secrets-manager', 'register', 'odd', '--flavor=local', '--uuid=not-a-uuid']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('invalid UUID "not-a-uuid"');
    expect(bad.stderr).toContain('Hint: Give the component id as 32 hex digits');
    expect(bad.stderr).not.toContain('    at ');
    expect(
      (json(cli(e, ['--json', 'secrets-manager', 'list'])) as { managers: { name: string }[] }).managers.map(
        (m) => m.name,
      ),
    ).toEqual(['adopted', 'default']);
  });

  it('validates scope settings', () => {
    const e = tempEnv();
    const noNs = cli(e, ['secrets-manager', 'register', 'x', '-f', 'local', '--scope=namespace']);
    expect(noNs.status).toBe(1);
    expect(noNs.stderr).toContain('needs a namespace');
    expect(cli(e, ['secrets-manager', 'register', 'x', '-f', 'local', '--scope=planet']).status).toBe(1);
    expect(
      cli(e, ['secrets-manager', 'register', 'x', '-f', 'local', '--scope=namespace', '--namespace=a.b']).status,
    ).toBe(1);
    expect(cli(e, ['secrets-manager', 'register', 'x', '-f', 'local', '--colour=blue']).stderr).toContain(
      "no config field 'colour'",
    );
    expect(cli(e, ['secrets-manager', 'register', 'x', '-f', 'nope']).stderr).toContain(
      "unknown secrets-manager flavor 'nope'",
    );
    const ref = cli(e, ['secrets-manager', 'register', 'x', '-f', 'local', '--path={{a.b}}']);
    expect(ref.status).toBe(1);
    expect(ref.stderr).toContain('cannot use a secret reference');
    expect(cli(e, ['secrets-manager', 'register', 'default', '-f', 'local']).status).toBe(1);
  });

  it('refuses to move a manager that holds secrets unless forced', () => {
    const e = tempEnv();
    cli(e, ['secret', 'register', 'a', '--k=v']);
    const r = cli(e, ['secrets-manager', 'update', 'default', '--scope=global']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('would make invisible');
    expect(cli(e, ['secret', 'list']).stdout).toBe('a\n');
    expect(cli(e, ['secrets-manager', 'update', 'default', '--scope=global', '--force']).status).toBe(0);
    expect(cli(e, ['secret', 'list']).stdout).toBe('');
    expect(cli(e, ['secrets-manager', 'update', 'default', '--scope=component', '--force']).status).toBe(0);
    expect(cli(e, ['secret', 'list']).stdout).toBe('a\n');
  });

  it('keeps a manager on its own store file with --path', () => {
    const e = tempEnv();
    const path = join(e.configDir, 'elsewhere', 'team.db');
    expect(
      cli(e, ['secrets-manager', 'register', 'own', '-f', 'local', `--path=${path}`, '--scope=global']).status,
    ).toBe(0);
    cli(e, ['stack', 'register', 's', '-x', 'own', '--set']);
    expect(cli(e, ['secret', 'register', 'a', '--k=v']).status).toBe(0);
    expect(cli(e, ['secret', 'get', 'a', '--key', 'k']).stdout).toBe('v');
  });

  it('refuses to delete a manager that a stack uses, naming the stack', () => {
    const e = tempEnv();
    const r = cli(e, ['secrets-manager', 'delete', 'default']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("used by stack 'default'");
    cli(e, ['secrets-manager', 'register', 'spare', '-f', 'local']);
    expect(cli(e, ['secrets-manager', 'delete', 'spare', '-y']).stdout).toContain('stay in the backend');
  });

  it('lists flavors with scoping support and descriptions', () => {
    const e = tempEnv();
    const flavors = (
      json(cli(e, ['--json', 'secrets-manager', 'flavor', 'list'])) as {
        flavors: { name: string; scoping: boolean; source: string }[];
      }
    ).flavors;
    expect(flavors.find((f) => f.name === 'local')).toMatchObject({ scoping: true, source: 'built-in' });
    expect(flavors.map((f) => f.name)).toEqual(
      expect.arrayContaining(['local', 'aws', 'gcp', 'azure', 'vault', 'github']),
    );
    expect(cli(e, ['secrets-manager', 'flavor', 'list']).stdout).toMatch(/FLAVOR\s+SCOPING\s+SOURCE\s+DESCRIPTION/);
  });
});

describe('keystack stack', () => {
  it('registers a stack with a manager, activates it, and secret commands follow it', () => {
    const e = tempEnv();
    cli(e, ['secrets-manager', 'register', 'prod', '-f', 'local']);
    expect(cli(e, ['stack', 'register', 'p', '-x', 'prod']).status).toBe(0);
    cli(e, ['secret', 'register', 'on-default', '--k=v']);
    expect(cli(e, ['stack', 'set', 'p']).stdout).toContain("Active stack: 'p'");
    expect(cli(e, ['secret', 'list']).stdout).toBe('');
    cli(e, ['secret', 'register', 'on-prod', '--k=v']);
    expect(cli(e, ['secret', 'list']).stdout).toBe('on-prod\n');
    const stacks = (
      json(cli(e, ['--json', 'stack', 'list'])) as {
        stacks: { name: string; active: boolean; components: Record<string, string> }[];
      }
    ).stacks;
    expect(stacks.find((s) => s.name === 'p')).toMatchObject({
      active: true,
      components: { secretsManager: 'prod', orchestrator: 'default', artifactStore: 'default' },
    });
    expect(cli(e, ['stack', 'describe']).stdout).toMatch(/secrets-manager\s+prod\s+local/);
  });

  it('refuses to change the default stack, leaving it unchanged (ZenML test_stack.py)', () => {
    const e = tempEnv();
    cli(e, ['secrets-manager', 'register', 'sm2', '-f', 'local']);
    const before = cli(e, ['--json', 'stack', 'describe', 'default']).stdout;
    const r = cli(e, ['stack', 'update', 'default', '-x', 'sm2']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("the 'default' stack cannot be changed");
    expect(cli(e, ['stack', 'remove-component', '-x']).status).toBe(1);
    expect(cli(e, ['--json', 'stack', 'describe', 'default']).stdout).toBe(before);
  });

  it('updates and removes the secrets manager of a stack (ZenML test_stack.py)', () => {
    const e = tempEnv();
    cli(e, ['secrets-manager', 'register', 'sm2', '-f', 'local']);
    cli(e, ['stack', 'register', 's', '-x', 'sm2']);
    expect(cli(e, ['stack', 'remove-component', 's', '-x']).status).toBe(0);
    expect(
      (json(cli(e, ['--json', 'stack', 'describe', 's'])) as { components: object }).components,
    ).not.toHaveProperty('secretsManager');
    expect(cli(e, ['stack', 'update', 's', '-x', 'sm2']).status).toBe(0);
    expect(cli(e, ['stack', 'update', 'nostack', '-x', 'sm2']).status).toBe(1);
    cli(e, ['stack', 'set', 's']);
    cli(e, ['stack', 'remove-component', '-x']);
    const r = cli(e, ['secret', 'list']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("the active stack 's' has no secrets manager");
  });
});

describe('keystack schema', () => {
  it('lists and describes the built-in schemas', () => {
    const e = tempEnv();
    expect(cli(e, ['schema', 'list']).stdout).toMatch(/basic_auth\s+username, password/);
    expect(cli(e, ['schema', 'describe', 'mysql']).stdout).toMatch(/ssl_verify_server_cert\s+boolean\s+no\s+false/);
  });

  it('registers a user schema written in TypeScript and uses it from the CLI', () => {
    const e = tempEnv();
    const r = cli(e, ['schema', 'register', 'examples/custom-schema/schemas.ts']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('schemas wandb');
    expect(cli(e, ['schema', 'describe', 'wandb']).stdout).toMatch(/offline\s+boolean\s+no\s+false/);
    expect(cli(e, ['secret', 'register', 'w', '-s', 'wandb', '--api_key=0123456789abc', '--port=8080']).status).toBe(0);
    expect(JSON.parse(cli(e, ['--json', 'secret', 'get', 'w']).stdout).values).toEqual({
      api_key: '0123456789abc',
      port: '8080',
      offline: 'false',
    });
    expect(JSON.parse(cli(e, ['--json', 'secret', 'get', 'w']).stdout).data).toEqual({
      api_key: '0123456789abc',
      port: 8080,
      offline: false,
    });
    const bad = cli(e, ['secret', 'register', 'w2', '-s', 'wandb', '--api_key=short', '--port=eighty']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('port: expected a number');
    expect(cli(e, ['schema', 'register', resolve('package.json')]).status).toBe(1);
    expect(cli(e, ['schema', 'register', 'nope.ts']).stderr).toContain('does not exist');
  });

  it('a registered .ts module is compiled once, into the config dir, and later commands load the cached file', () => {
    const e = tempEnv({ KEYSTACK_DEBUG: '1' });
    const reg = cli(e, ['schema', 'register', resolve('examples/custom-schema/schemas.ts')]);
    expect(reg.status, reg.stderr).toBe(0);
    expect(reg.stderr).toContain('module cache compiled');
    const cacheDir = join(e.configDir, 'config/cache/modules');
    const [file] = readdirSync(cacheDir);
    const mtime = statSync(join(cacheDir, file ?? '')).mtimeMs;
    const list = cli(e, ['schema', 'list']);
    expect(list.stdout).toContain('wandb');
    expect(list.stderr).toContain(`module cache hit: ${resolve('examples/custom-schema/schemas.ts')}`);
    expect(statSync(join(cacheDir, file ?? '')).mtimeMs).toBe(mtime);
  });
});
