// Keys looked up on prototypes, and strings that look like references but are not (issue 8 §4),
// end to end through the built CLI.
import { describe, expect, it } from 'vitest';
import { cli, tempEnv, type CliEnv } from '../support/cli.js';
import { Keystack } from '../../src/stack/client.js';
import { ReferenceResolver } from '../../src/stack/references.js';
import { join } from 'node:path';

function ok(e: CliEnv, args: string[]): string {
  const r = cli(e, args);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

function fails(e: CliEnv, args: string[], status: number, message: string): string {
  const r = cli(e, args);
  expect(r.status, r.stderr).toBe(status);
  expect(r.stderr.split('\n')[0]).toContain(message);
  expect(r.stderr).not.toContain('    at '); // no stack trace
  return r.stderr;
}

const PROTOTYPE_KEYS = ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf'];

describe('key lookups are own-property only', () => {
  it('stack validate refuses {{db.constructor}} instead of passing it', () => {
    const e = tempEnv();
    ok(e, ['secret', 'register', 'db', '--password=pw-123456']);
    ok(e, ['artifact-store', 'update', 'default', '--encryption_key={{db.constructor}}']);
    const err = fails(e, ['stack', 'validate'], 1, "{{db.constructor}} (secret 'db' has no key 'constructor')");
    expect(err).toContain('register-secrets');
  });

  it('stack register-secrets does not take {{db.constructor}} for a key that is already set', () => {
    const e = tempEnv();
    ok(e, ['secret', 'register', 'db', '--password=pw-123456']);
    ok(e, ['artifact-store', 'update', 'default', '--encryption_key={{db.constructor}}']);
    fails(e, ['stack', 'register-secrets', '--skip-existing'], 2, 'no value for {{db.constructor}}');
  });

  it('a run cannot resolve {{db.constructor}} to Object’s constructor', async () => {
    const e = tempEnv();
    ok(e, ['secret', 'register', 'db', '--password=pw-123456']);
    const ks = new Keystack({ configDir: join(e.configDir, 'config'), env: {} });
    try {
      const resolver = new ReferenceResolver({ manager: await ks.secretsManager(), stackName: 'default' });
      for (const key of PROTOTYPE_KEYS) {
        await expect(resolver.resolve(`{{db.${key}}}`)).rejects.toMatchObject({ problem: 'missing_key' });
      }
      await expect(resolver.resolve('{{db.password}}')).resolves.toBe('pw-123456');
    } finally {
      await ks.close();
    }
  });

  it('secret get --key names a missing key cleanly for keys that exist on Object.prototype', () => {
    const e = tempEnv();
    ok(e, ['secret', 'register', 'db', '--password=pw-123456']);
    for (const key of PROTOTYPE_KEYS) {
      const err = fails(e, ['secret', 'get', 'db', '--key', key], 1, `secret 'db' has no key '${key}'`);
      expect(err).toContain('Hint: Its keys are: password.');
    }
  });

  it('keys named like Object.prototype members are ordinary keys', () => {
    const e = tempEnv();
    ok(e, ['secret', 'register', 'odd', '--constructor=c-value', '--toString=t-value']);
    expect(ok(e, ['secret', 'get', 'odd', '--key', 'constructor'])).toBe('c-value');
    expect(JSON.parse(ok(e, ['--json', 'secret', 'get', 'odd']))).toMatchObject({
      values: { constructor: 'c-value', toString: 't-value' },
    });
    ok(e, ['secret', 'update', 'odd', '--remove-key', 'constructor']);
    expect(JSON.parse(ok(e, ['--json', 'secret', 'get', 'odd']))).toMatchObject({ values: { toString: 't-value' } });
  });

  it('--remove-key of a key that only exists on the prototype is refused, and nothing is written', () => {
    const e = tempEnv();
    ok(e, ['secret', 'register', 'db', '--password=pw-123456']);
    for (const key of ['constructor', 'toString', '__proto__']) {
      fails(e, ['secret', 'update', 'db', '--remove-key', key], 1, `secret 'db' has no such key`);
    }
    expect(JSON.parse(ok(e, ['--json', 'secret', 'get', 'db']))).toMatchObject({ values: { password: 'pw-123456' } });
  });

  it('--__proto__=x is refused clearly, not silently dropped', () => {
    const e = tempEnv();
    fails(e, ['secret', 'register', 'p', '--__proto__=x', '--a=b'], 2, "'--__proto__' cannot be used as a key");
    fails(e, ['secret', 'list'], 0, 'No secrets');
    ok(e, ['secret', 'register', 'p', '--a=b']);
    fails(e, ['secret', 'update', 'p', '--__proto__=x'], 2, "'--__proto__' cannot be used as a key");
    fails(
      e,
      ['artifact-store', 'register', 'x', '--flavor=local', '--__proto__=x'],
      2,
      "'--__proto__' cannot be used as a key",
    );
  });
});

describe('strings that look like references but are not', () => {
  const LOOKALIKES: [string, string][] = [
    ['{{ s.k }}', 'it has whitespace inside the braces'],
    ['{{s.}}', "the key after the '.' is empty"],
    ['{{.k}}', "the secret name before the '.' is empty"],
    ['{{sk}}', "it has no '.' between the secret name and the key"],
    ['{{s.k}}x', 'it has text outside the braces'],
    ['x{{s.k}}', 'it has text outside the braces'],
    ['{{s.k}}\n', 'it has whitespace or a newline around the braces'],
    ['{{s.k', 'its braces do not pair up'],
  ];

  it.each(LOOKALIKES)('refuses %j at component register and update: %s', (value, why) => {
    const e = tempEnv();
    const err = fails(
      e,
      ['artifact-store', 'register', 'a', '--flavor=local', `--encryption_key=${value}`],
      1,
      `looks like a secret reference but is not one: ${why}`,
    );
    expect(err).toContain('Hint: A reference is the whole value, {{NAME.KEY}}');
    expect(err).not.toContain('plain-text value');
    expect(ok(e, ['artifact-store', 'list'])).not.toMatch(/\ba\b/);
    ok(e, ['artifact-store', 'register', 'b', '--flavor=local', '--encryption_key={{s.k}}']);
    fails(
      e,
      ['artifact-store', 'update', 'b', `--encryption_key=${value}`],
      1,
      'looks like a secret reference but is not one',
    );
    expect(ok(e, ['artifact-store', 'describe', 'b'])).toContain('{{s.k}}');
  });

  it('refuses a lookalike in a secrets manager’s config too', () => {
    const e = tempEnv();
    fails(
      e,
      ['secrets-manager', 'register', 'x', '--flavor=local', '--path={{ s.k }}'],
      1,
      "config field 'path' of the local flavor looks like a secret reference but is not one",
    );
  });

  it('still accepts a valid reference and plain text with braces that are not a reference', () => {
    const e = tempEnv();
    ok(e, ['artifact-store', 'register', 'a', '--flavor=local', '--encryption_key={{s.k}}']);
    ok(e, ['orchestrator', 'register', 'o', '--flavor=local_process', '--node_options=--title={x}}']);
    // Stored exactly as given: not rewritten, and not dropped on the way in.
    expect(JSON.parse(ok(e, ['artifact-store', 'describe', 'a', '--json'])).config).toEqual({
      encryption_key: '{{s.k}}',
    });
    expect(JSON.parse(ok(e, ['orchestrator', 'describe', 'o', '--json'])).config).toMatchObject({
      node_options: '--title={x}}',
    });
  });
});
