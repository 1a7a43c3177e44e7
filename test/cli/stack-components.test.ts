import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cli, inPty, tempEnv } from '../support/cli.js';

const json = (r: { stdout: string }) => JSON.parse(r.stdout) as Record<string, unknown>;
const EXAMPLE = resolve('examples/pipeline/pipeline.ts');

describe('keystack orchestrator | artifact-store | container-registry', () => {
  it('registers, lists, describes (references as text), updates and deletes components', () => {
    const e = tempEnv();
    expect(cli(e, ['orchestrator', 'register', 'proc', '-f', 'local_process', '--timeout_seconds=30']).status).toBe(0);
    expect(cli(e, ['orchestrator', 'list']).stdout).toMatch(
      /\*\s+default\s+local\s+default[\s\S]*proc\s+local_process/,
    );
    const reg = cli(e, ['artifact-store', 'register', 'enc', '-f', 'local', '--encryption_key={{art.key}}']);
    expect(reg.status, reg.stderr).toBe(0);
    expect(reg.stderr).toBe('');
    expect(cli(e, ['artifact-store', 'describe', 'enc']).stdout).toMatch(/encryption_key\s+\{\{art\.key\}\}/);
    expect(
      (json(cli(e, ['--json', 'artifact-store', 'describe', 'enc'])).config as Record<string, unknown>)[
        'encryption_key'
      ],
    ).toBe('{{art.key}}');

    const plain = cli(e, ['artifact-store', 'update', 'enc', '--encryption_key=hunter2-plain']);
    expect(plain.status).toBe(0);
    expect(plain.stderr).toContain("Warning: you gave a plain-text value for the sensitive field 'encryption_key'");
    expect(plain.stderr).toContain('{{NAME.encryption_key}}');
    const desc = cli(e, ['artifact-store', 'describe', 'enc']);
    expect(desc.stdout).toMatch(/encryption_key\s+\*\*\*/);
    expect(desc.stdout + plain.stderr + plain.stdout).not.toContain('hunter2-plain');
    expect(cli(e, ['artifact-store', 'update', 'enc', '--encryption_key=']).status).toBe(0);
    expect(json(cli(e, ['--json', 'artifact-store', 'describe', 'enc'])).config as object).not.toHaveProperty(
      'encryption_key',
    );

    expect(cli(e, ['orchestrator', 'register', '{{a.b}}', '-f', 'local']).stderr).toContain(
      'cannot be a secret reference',
    );
    expect(cli(e, ['artifact-store', 'register', 'p', '-f', 'local', '--path={{a.b}}']).stderr).toContain(
      "'path' of the artifact-store flavor local cannot be a secret reference",
    );
    expect(cli(e, ['orchestrator', 'register', 'x', '-f', 'kubeflow']).stderr).toContain(
      "unknown orchestrator flavor 'kubeflow'",
    );
    expect(cli(e, ['orchestrator', 'register', 'x', '-f', 'local', '--colour=red']).stderr).toContain(
      "no config field 'colour'",
    );

    const inUse = cli(e, ['orchestrator', 'delete', 'default']);
    expect(inUse.status).toBe(1);
    expect(inUse.stderr).toContain("orchestrator 'default' is used by stack 'default'");
    expect(cli(e, ['orchestrator', 'delete', 'proc', '-y']).status).toBe(0);
    expect(cli(e, ['orchestrator', 'describe', 'proc']).status).toBe(1);
  });

  it('container registries require authentication exactly when they name a secret', () => {
    const e = tempEnv();
    cli(e, ['container-registry', 'register', 'open', '-f', 'default', '--uri=registry.example/team']);
    cli(e, [
      'container-registry',
      'register',
      'private',
      '-f',
      'default',
      '--uri=registry.example/team',
      '--authentication_secret=regcreds',
    ]);
    expect(cli(e, ['container-registry', 'describe', 'open']).stdout).toMatch(/requires_authentication\s+false/);
    expect(cli(e, ['container-registry', 'describe', 'private']).stdout).toMatch(/requires_authentication\s+true/);
    expect(cli(e, ['stack', 'register', 'reg-stack', '-x', 'default', '-c', 'private', '--set']).status).toBe(0);
    cli(e, ['secret', 'register', 'regcreds', '--username=bot', '--password=pw-123456']);
    const wrong = cli(e, ['stack', 'validate']);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain("has schema 'arbitrary'; register it with schema 'basic_auth'");
    expect(wrong.stderr).toContain('--schema=basic_auth');
    cli(e, ['secret', 'delete', 'regcreds', '-y']);
    cli(e, ['secret', 'register', 'regcreds', '--schema=basic_auth', '--username=bot', '--password=pw-123456']);
    expect(cli(e, ['stack', 'validate']).status).toBe(0);
  });
});

describe('keystack stack (ZenML test_stack.py and validation)', () => {
  it('update -x adds a manager, a missing stack fails, remove-component -x removes it', () => {
    const e = tempEnv();
    cli(e, ['secrets-manager', 'register', 'sm2', '-f', 'local']);
    expect(cli(e, ['stack', 'register', 's']).status).toBe(0);
    expect(json(cli(e, ['--json', 'stack', 'describe', 's'])).components as object).not.toHaveProperty(
      'secretsManager',
    );
    expect(cli(e, ['stack', 'update', 's', '-x', 'sm2']).status).toBe(0);
    expect(
      (json(cli(e, ['--json', 'stack', 'describe', 's'])).components as Record<string, string>)['secretsManager'],
    ).toBe('sm2');
    const missing = cli(e, ['stack', 'update', 'nostack', '-x', 'sm2']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("no stack named 'nostack'");
    expect(cli(e, ['stack', 'update', 's', '-x', 'nosuch']).status).toBe(1);
    expect(
      (json(cli(e, ['--json', 'stack', 'describe', 's'])).components as Record<string, string>)['secretsManager'],
    ).toBe('sm2');
    expect(cli(e, ['stack', 'remove-component', 's', '-x']).status).toBe(0);
    expect(json(cli(e, ['--json', 'stack', 'describe', 's'])).components as object).not.toHaveProperty(
      'secretsManager',
    );
  });

  it('validate reports every missing reference with the command that fixes it, at the configured level', () => {
    const e = tempEnv();
    cli(e, ['artifact-store', 'update', 'default', '--encryption_key={{art.key}}']);
    cli(e, ['container-registry', 'register', 'r', '-f', 'default', '--uri=x']);
    cli(e, ['secret', 'register', 'art', '--other=1']);
    const r = cli(e, ['stack', 'validate']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("missing secrets for stack 'default': {{art.key}} (secret 'art' has no key 'key')");
    expect(r.stderr).toContain('keystack stack register-secrets default');
    expect(cli(e, ['stack', 'validate'], { env: { KEYSTACK_SECRET_VALIDATION_LEVEL: 'SECRET_EXISTS' } }).status).toBe(
      0,
    );
    expect(cli(e, ['stack', 'validate', '--level', 'NONE']).stdout).toContain(
      'valid (secret validation level NONE; 1 secret reference: {{art.key}})',
    );
    expect(cli(e, ['stack', 'validate'], { env: { KEYSTACK_SECRET_VALIDATION_LEVEL: 'bogus' } }).status).toBe(1);
  });

  it('validate says which manager it searched, and how to pick the one that has the secrets', () => {
    const e = tempEnv();
    expect(cli(e, ['secrets-manager', 'register', 'team', '-f', 'local']).status).toBe(0);
    cli(e, ['stack', 'register', 'remote', '-x', 'team']);
    cli(e, ['artifact-store', 'update', 'default', '--encryption_key={{art.key}}']);
    // The walk-through's mistake: the secret goes to the current manager, not the stack's.
    expect(cli(e, ['secret', 'register', 'art', '--key=k-value-1']).status).toBe(0);
    const r = cli(e, ['stack', 'validate', 'remote']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("looked up in secrets manager 'team' (flavor local)");
    expect(r.stderr).toContain('keystack stack update remote -x MANAGER');
    expect(r.stderr).toContain('keystack secret register NAME -m team');
    expect(cli(e, ['secret', 'register', 'art', '-m', 'team', '--key=k-value-2']).status).toBe(0);
    expect(cli(e, ['stack', 'validate', 'remote']).status).toBe(0);
  });
});

describe('keystack stack register-secrets', () => {
  it('takes values from a JSON file and a .env file, registers and updates, and never prints them', () => {
    const e = tempEnv();
    cli(e, ['artifact-store', 'update', 'default', '--encryption_key={{art.key}}']);
    cli(e, ['orchestrator', 'register', 'p', '-f', 'local_process', '--node_options=--no-warnings']);
    cli(e, ['artifact-store', 'register', 'second', '-f', 'local', '--encryption_key={{db.password}}']);
    cli(e, ['stack', 'register', 'two', '-a', 'second', '-x', 'default']);
    cli(e, ['secret', 'register', 'db', '--user=admin']);

    const none = cli(e, ['stack', 'register-secrets']);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('no value for {{art.key}}');

    const values = join(e.configDir, 'values.json');
    writeFileSync(values, JSON.stringify({ art: { key: 'json-art-value' } }));
    const r = cli(e, ['stack', 'register-secrets', '--values', values]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain("Registering secret 'art' (keys: key)");
    expect(r.stdout + r.stderr).not.toContain('json-art-value');
    expect(cli(e, ['secret', 'get', 'art', '--key', 'key']).stdout).toBe('json-art-value');

    const envFile = join(e.configDir, 'ci.env');
    writeFileSync(envFile, '# CI secrets\ndb.password="env-db-pass"\n');
    const u = cli(e, ['stack', 'register-secrets', 'two', '--env-file', envFile]);
    expect(u.status, u.stderr).toBe(0);
    expect(u.stderr).toContain("Updating secret 'db' (keys: password)");
    expect(JSON.parse(cli(e, ['--json', 'secret', 'get', 'db']).stdout).values).toEqual({
      user: 'admin',
      password: 'env-db-pass',
    });
    expect(cli(e, ['stack', 'validate', 'two']).status).toBe(0);
    expect(cli(e, ['stack', 'validate']).status).toBe(0);
  });

  it('says so when nothing is referenced, and refuses a stack without a secrets manager', () => {
    const e = tempEnv();
    expect(cli(e, ['stack', 'register-secrets']).stdout).toContain('No secrets required for this stack.');
    cli(e, ['artifact-store', 'register', 'x', '-f', 'local', '--encryption_key={{art.key}}']);
    cli(e, ['stack', 'register', 'nosm', '-a', 'x']);
    const r = cli(e, ['stack', 'register-secrets', 'nosm']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      "unable to register the required secrets (art) because stack 'nosm' has no secrets manager",
    );
  });

  it('prompts with hidden input in a terminal, and keeps existing values with --skip-existing', () => {
    const e = tempEnv();
    cli(e, ['artifact-store', 'update', 'default', '--encryption_key={{art.key}}']);
    cli(e, ['container-registry', 'register', 'r', '-f', 'default', '--uri=x']);
    cli(e, ['orchestrator', 'register', 'p', '-f', 'local_process']);
    cli(e, ['artifact-store', 'register', 'b', '-f', 'local', '--encryption_key={{art.backup}}']);
    cli(e, ['stack', 'register', 's', '-a', 'b', '-x', 'default']);
    const r = inPty(e, ['stack', 'register-secrets'], [{ expect: 'art.key', send: 'pty-value-1\r' }]);
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).not.toContain('pty-value-1');
    expect(cli(e, ['secret', 'get', 'art', '--key', 'key']).stdout).toBe('pty-value-1');

    // Stack s references art.backup: prompted; art.key is not referenced there.
    const s = inPty(
      e,
      ['stack', 'register-secrets', 's'],
      [
        { expect: 'art.backup', send: '\r' },
        { expect: 'required', send: 'pty-value-2\r' },
      ],
    );
    expect(s.status, s.stdout).toBe(0);
    expect(s.stdout).toContain("Updating secret 'art' (keys: backup)");
    expect(JSON.parse(cli(e, ['--json', 'secret', 'get', 'art']).stdout).values).toEqual({
      key: 'pty-value-1',
      backup: 'pty-value-2',
    });

    // An existing value: empty input keeps it; --skip-existing does not even ask.
    const keep = inPty(e, ['stack', 'register-secrets'], [{ expect: 'Leave empty to use existing value', send: '\r' }]);
    expect(keep.status, keep.stdout).toBe(0);
    expect(cli(e, ['secret', 'get', 'art', '--key', 'key']).stdout).toBe('pty-value-1');
    const skip = inPty(e, ['stack', 'register-secrets', '--skip-existing'], []);
    expect(skip.status, skip.stdout).toBe(0);
    expect(skip.stdout).not.toContain('Value for secret');
  });
});

describe('keystack pipeline', () => {
  it('runs the example on the default stack (quick start), with a secret read in a step and an encrypted artifact store', () => {
    const e = tempEnv();
    expect(cli(e, ['artifact-store', 'update', 'default', '--encryption_key={{artifacts.key}}']).status).toBe(0);
    expect(cli(e, ['secret', 'register', 'data_api', '--token=@-'], { input: 'quickstart-token' }).status).toBe(0);
    const refused = cli(e, ['pipeline', 'run', EXAMPLE]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('{{artifacts.key}}');
    expect(refused.stderr).toContain('keystack stack register-secrets default');
    const values = join(e.configDir, 'v.json');
    writeFileSync(values, JSON.stringify({ 'artifacts.key': 'quickstart-artifact-key' }));
    expect(cli(e, ['stack', 'register-secrets', '--values', values]).status).toBe(0);

    const r = cli(e, ['pipeline', 'run', EXAMPLE]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Running pipeline 'training' on stack 'default'/);
    expect(r.stderr).toMatch(/✓ fetch_data: completed in \d+/);
    expect(r.stderr).toMatch(/✓ evaluate: completed in \d+/);
    expect(r.stdout).toMatch(/Pipeline 'training' completed \(run [0-9a-f-]{36}\)/);

    const again = cli(e, ['--json', 'pipeline', 'run', EXAMPLE]);
    const steps = (JSON.parse(again.stdout) as { steps: { step: string; status: string }[] }).steps;
    expect(steps.map((s) => [s.step, s.status])).toEqual([
      ['fetch_data', 'completed'],
      ['train', 'cached'],
      ['evaluate', 'cached'],
    ]);

    const list = cli(e, ['pipeline', 'runs', 'list']);
    expect(list.stdout.match(/training\s+completed\s+default/g)).toHaveLength(2);
    const id = (JSON.parse(cli(e, ['--json', 'pipeline', 'runs', 'list']).stdout) as { runs: { id: string }[] })
      .runs[0]!.id;
    const d = cli(e, ['pipeline', 'runs', 'describe', id.slice(0, 8)]);
    // A duration in either unit: a loaded machine makes the step take over a second.
    expect(d.stdout).toMatch(/fetch_data\s+completed\s+(\d+ ms|\d+\.\d\d s)\s+cache off/);
    expect(d.stdout).toMatch(/train\s+cached/);
  });

  it('runs each step in its own process with local_process, and fails a run without leaking the secret', () => {
    const e = tempEnv();
    cli(e, ['orchestrator', 'register', 'proc', '-f', 'local_process']);
    cli(e, ['stack', 'register', 'p', '-o', 'proc', '-x', 'default', '--set']);
    cli(e, ['secret', 'register', 'api', '--token=@-'], { input: 'proc-token-value' });
    const fixture = resolve('test/pipeline/fixtures/secret-pipeline.ts');
    const ok = cli(e, ['--json', 'pipeline', 'run', fixture]);
    expect(ok.status, ok.stderr).toBe(0);
    expect((JSON.parse(ok.stdout) as { steps: { status: string }[] }).steps.map((s) => s.status)).toEqual([
      'completed',
      'completed',
    ]);
    const bad = cli(e, ['pipeline', 'run', fixture], { env: { FAIL_WITH_SECRET: '1' } });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(
      "step 'read_token' failed: secret_leak: step 'read_token' would store the value of secret 'api' key 'token' in its error",
    );
    expect(bad.stderr).toMatch(/✗ read_token: failed/);
    expect(bad.stdout + bad.stderr).not.toContain('proc-token-value');
    expect(cli(e, ['pipeline', 'run', resolve('examples/pipeline/nope.ts')]).stderr).toContain('does not exist');
  });
});
