// Every command that prints a component or a secrets manager, in text and with --json, shows a
// field the flavor marks sensitive as *** and never its value; so do its errors.
import { describe, expect, it } from 'vitest';
import { cli, tempEnv, type CliEnv } from '../support/cli.js';
import { requireEnv } from '../support/fake-http.js';

const awsEndpoint = requireEnv('AWS_SM_ENDPOINT', 'the moto server (AWS Secrets Manager emulator)');
const baoAddr = requireEnv('BAO_ADDR', 'the OpenBao dev server');

/** Runs a command in text and in --json; neither output may contain any of `secrets`. */
function both(e: CliEnv, args: string[], secrets: string[], env: Record<string, string> = {}) {
  const text = cli(e, args, { env });
  const json = cli(e, ['--json', ...args], { env });
  for (const [mode, r] of [
    ['text', text],
    ['json', json],
  ] as const) {
    for (const s of secrets)
      expect(r.stdout + r.stderr, `\`${mode}: keystack ${args.join(' ')}\` shows a sensitive value`).not.toContain(s);
  }
  return { text, json };
}

const parse = (r: { stdout: string }) => JSON.parse(r.stdout) as Record<string, unknown>;
const configOf = (r: { stdout: string }) => parse(r)['config'] as Record<string, unknown>;

describe('sensitive config in every view', () => {
  it('aws: aws_secret_access_key and aws_session_token', () => {
    const e = tempEnv();
    const key = 'AWS-SECRET-KEY-never-shown-7f3a';
    const session = 'AWS-SESSION-TOKEN-never-shown-91c2';
    const secrets = [key, session];
    const common = ['--region_name=us-east-1', `--endpoint_url=${awsEndpoint}`, '--aws_access_key_id=AKIAVIEWTEST'];
    const reg = both(
      e,
      ['secrets-manager', 'register', 'awsm', '-f', 'aws', ...common, `--aws_secret_access_key=${key}`],
      secrets,
    );
    expect(reg.text.status, reg.text.stderr).toBe(0);
    // The second (--json) registration of the same name fails: its error must not show it either.
    expect(reg.json.status).toBe(1);
    expect(
      both(
        e,
        ['secrets-manager', 'register', 'awsj', '-f', 'aws', ...common, `--aws_secret_access_key=${key}`],
        secrets,
      ).text.status,
    ).toBe(0);
    const regJson = cli(e, [
      '--json',
      'secrets-manager',
      'register',
      'awsk',
      '-f',
      'aws',
      ...common,
      `--aws_secret_access_key=${key}`,
    ]);
    expect(regJson.status, regJson.stderr).toBe(0);
    expect(configOf(regJson)).toMatchObject({
      aws_secret_access_key: '***',
      aws_access_key_id: 'AKIAVIEWTEST',
      region_name: 'us-east-1',
    });

    const list = both(e, ['secrets-manager', 'list'], secrets);
    const listed = (JSON.parse(list.json.stdout) as { managers: { name: string; config: Record<string, unknown> }[] })
      .managers;
    expect(listed.find((m) => m.name === 'awsm')?.config['aws_secret_access_key']).toBe('***');
    const desc = both(e, ['secrets-manager', 'describe', 'awsm'], secrets);
    expect(desc.text.stdout).toMatch(/aws_secret_access_key\s+\*\*\*/);
    expect(configOf(desc.json)['aws_secret_access_key']).toBe('***');
    const upd = both(e, ['secrets-manager', 'update', 'awsm', `--aws_session_token=${session}`], secrets);
    expect(upd.text.status, upd.text.stderr).toBe(0);
    expect(configOf(upd.json)).toMatchObject({ aws_secret_access_key: '***', aws_session_token: '***' });
    // An update that fails (unknown field) after naming a credential.
    expect(
      both(e, ['secrets-manager', 'update', 'awsm', `--aws_secret_access_key=${key}`, '--colour=blue'], secrets).text
        .status,
    ).toBe(1);

    both(e, ['stack', 'register', 'aws_stack', '-x', 'awsm'], secrets);
    both(e, ['stack', 'describe', 'aws_stack'], secrets);
    both(e, ['stack', 'list'], secrets);
    cli(e, ['stack', 'set', 'aws_stack']);
    expect(both(e, ['secret', 'list'], secrets).json.status).toBe(0);
    both(e, ['stack', 'set', 'default'], secrets);
    both(e, ['stack', 'delete', 'aws_stack', '-y'], secrets);
    const del = both(e, ['secrets-manager', 'delete', 'awsj', '-y'], secrets);
    expect(del.text.status, del.text.stderr).toBe(0);
    const delJson = cli(e, ['--json', 'secrets-manager', 'delete', 'awsk', '-y']);
    expect(configOf(delJson)['aws_secret_access_key']).toBe('***');
  });

  it('vault: token', () => {
    const e = tempEnv();
    // Not the server's token: the commands that reach the server must fail without quoting it.
    const token = 'VAULT-TOKEN-never-shown-44d1';
    const secrets = [token];
    const reg = cli(e, [
      '--json',
      'secrets-manager',
      'register',
      'v',
      '-f',
      'vault',
      `--url=${baoAddr}`,
      `--token=${token}`,
    ]);
    expect(reg.status, reg.stderr).toBe(0);
    expect(reg.stdout + reg.stderr).not.toContain(token);
    expect(configOf(reg)['token']).toBe('***');
    both(e, ['secrets-manager', 'register', 'v2', '-f', 'vault', `--url=${baoAddr}`, `--token=${token}`], secrets);
    both(e, ['secrets-manager', 'list'], secrets);
    const desc = both(e, ['secrets-manager', 'describe', 'v'], secrets);
    expect(configOf(desc.json)['token']).toBe('***');
    expect(desc.text.stdout).toMatch(/token\s+\*\*\*/);
    both(e, ['secrets-manager', 'update', 'v', '--mount_point=secret'], secrets);
    // The token is not valid on the server: the backend's refusal must not quote it.
    cli(e, ['stack', 'register', 'vs', '-x', 'v', '--set']);
    const denied = both(e, ['secret', 'list'], secrets);
    expect(denied.text.status).toBe(1);
    expect(denied.text.stderr).toContain('[vault]');
    both(e, ['secrets-manager', 'delete', 'v2', '-y'], secrets);
  });

  it('artifact store: encryption_key (a plain value is ***, a reference is shown as text)', () => {
    const e = tempEnv();
    const key = 'artifact-passphrase-never-shown-5b7e';
    const secrets = [key];
    const reg = both(e, ['artifact-store', 'register', 'enc', '-f', 'local', `--encryption_key=${key}`], secrets);
    expect(reg.text.status, reg.text.stderr).toBe(0);
    expect(reg.text.stderr).toContain("plain-text value for the sensitive field 'encryption_key'");
    const regJson = cli(e, ['--json', 'artifact-store', 'register', 'enc2', '-f', 'local', `--encryption_key=${key}`]);
    expect(configOf(regJson)['encryption_key']).toBe('***');
    const list = both(e, ['artifact-store', 'list'], secrets);
    const listed = (JSON.parse(list.json.stdout) as { components: { name: string; config: Record<string, unknown> }[] })
      .components;
    expect(listed.find((a) => a.name === 'enc')?.config['encryption_key']).toBe('***');
    const desc = both(e, ['artifact-store', 'describe', 'enc'], secrets);
    expect(configOf(desc.json)['encryption_key']).toBe('***');
    expect(desc.text.stdout).toMatch(/encryption_key\s+\*\*\*/);
    const upd = both(e, ['artifact-store', 'update', 'enc', `--encryption_key=${key}-2`], [...secrets, `${key}-2`]);
    expect(configOf(upd.json)['encryption_key']).toBe('***');
    const ref = cli(e, ['--json', 'artifact-store', 'update', 'enc', '--encryption_key={{art.key}}']);
    expect(configOf(ref)['encryption_key']).toBe('{{art.key}}');
    both(e, ['stack', 'register', 'st', '-a', 'enc2'], secrets);
    both(e, ['stack', 'describe', 'st'], secrets);
    both(e, ['stack', 'delete', 'st', '-y'], secrets);
    const del = cli(e, ['--json', 'artifact-store', 'delete', 'enc2', '-y']);
    expect(del.status, del.stderr).toBe(0);
    expect(configOf(del)['encryption_key']).toBe('***');
    expect(del.stdout).not.toContain(key);
    both(e, ['artifact-store', 'delete', 'enc', '-y'], secrets);
    both(e, ['orchestrator', 'list'], secrets);
    both(e, ['container-registry', 'list'], secrets);
  });
});
