// `keystack secret copy` between real backends: aws (moto) -> vault (OpenBao) -> local -> aws with
// schemas and typed values intact; the plan before any write; --delete-source only after a verified
// read-back; from ZenML-layout managers (scope_prefix=zenml, and ZenML's per-key `none` groups on
// gcp); and an interrupted copy (SIGKILL mid-way) that a re-run finishes.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { v1 } from '@google-cloud/secret-manager';
import * as grpc from '@grpc/grpc-js';
import { SecretClient } from '@azure/keyvault-secrets';
import aws from '../../src/flavors/aws.js';
import azure from '../../src/flavors/azure.js';
import gcp from '../../src/flavors/gcp.js';
import local from '../../src/flavors/local/index.js';
import { SecretsManager } from '../../src/core/manager.js';
import type { FlavorDefinition } from '../../src/core/types.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';
import { typedValues } from '../../src/secrets/content.js';
import { copySecrets, TransferError } from '../../src/transfer/transfer.js';
import { BIN, cli, tempEnv, type CliEnv } from '../support/cli.js';
import { requireEnv } from '../support/fake-http.js';

const AWS_ENDPOINT = requireEnv('AWS_SM_ENDPOINT', 'the moto server (AWS Secrets Manager emulator)');
const BAO_ADDR = requireEnv('BAO_ADDR', 'the OpenBao dev server');
const BAO_TOKEN = requireEnv('BAO_TOKEN', 'the OpenBao dev server root token');
const CLOUD_ENV = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', VAULT_TOKEN: BAO_TOKEN };

function ok(e: CliEnv, args: string[], input?: string): string {
  const r = cli(e, args, input === undefined ? {} : { input });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/** `export --format json --with-schema`: every secret with its schema and typed values. */
function snapshot(e: CliEnv, manager: string): Record<string, Record<string, unknown>> {
  return JSON.parse(ok(e, ['export', '--format', 'json', '--with-schema', '-m', manager])) as Record<
    string,
    Record<string, unknown>
  >;
}

const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n';

describe('keystack secret copy across aws, vault and local', () => {
  const e = tempEnv(CLOUD_ENV);
  ok(e, [
    'secrets-manager',
    'register',
    'aws_sm',
    '--flavor=aws',
    '--region_name=us-east-1',
    `--endpoint_url=${AWS_ENDPOINT}`,
  ]);
  ok(e, [
    'secrets-manager',
    'register',
    'aws_back',
    '--flavor=aws',
    '--region_name=us-east-1',
    `--endpoint_url=${AWS_ENDPOINT}`,
    '--scope=namespace',
    `--namespace=ns${randomBytes(3).toString('hex')}`,
  ]);
  ok(e, ['secrets-manager', 'register', 'vault_sm', '--flavor=vault', `--url=${BAO_ADDR}`]);
  ok(e, [
    'secrets-manager',
    'register',
    'vault_global',
    '--flavor=vault',
    `--url=${BAO_ADDR}`,
    '--scope=global',
    `--scope_prefix=ks${randomBytes(3).toString('hex')}`,
  ]);
  ok(e, ['stack', 'register', 'aws_stack', '-x', 'aws_sm']);
  ok(e, ['stack', 'register', 'vault_stack', '-x', 'vault_sm']);

  const onStack = (stack: string, args: string[]) => {
    ok(e, ['stack', 'set', stack]);
    try {
      return ok(e, args);
    } finally {
      ok(e, ['stack', 'set', 'default']);
    }
  };

  it('aws -> vault -> local -> aws (another scope) keeps every schema, value and JSON type', () => {
    onStack('aws_stack', [
      'secret',
      'register',
      'mydb',
      '-s',
      'mysql',
      '--user=root',
      '--password=p@ss"w\'rd',
      '--ssl_verify_server_cert=true',
    ]);
    onStack('aws_stack', ['secret', 'register', 'login', '-s', 'basic_auth', '--username=admin', '--password=hunter2']);
    onStack('aws_stack', [
      'secret',
      'register',
      'tls',
      `--key=${PEM}`,
      '--empty=',
      '--unicode=héllo 🙂',
      '--dollar=$HOME=$(id)',
    ]);
    const original = snapshot(e, 'aws_sm');
    expect(original['mydb']).toMatchObject({ $schema: 'mysql', ssl_verify_server_cert: true });

    const first = cli(e, ['secret', 'copy', '--from', 'aws_sm', '--to', 'vault_sm', '--all']);
    expect(first.status, first.stderr).toBe(0);
    // The plan comes first (stderr), with names and keys only.
    expect(first.stderr).toMatch(/3 to create, 0 to update, 0 unchanged/);
    expect(first.stderr).toMatch(/create\s+mydb\s+schema mysql; keys: user, password, ssl_verify_server_cert/);
    expect(first.stdout + first.stderr).not.toMatch(/hunter2|BEGIN PRIVATE/);
    expect(first.stdout).toContain("Copied 3 secrets to secrets manager 'vault_sm'");

    ok(e, ['secret', 'copy', '--from', 'vault_sm', '--to', 'default', '--all']);
    ok(e, ['secret', 'copy', '--from', 'default', '--to', 'aws_back', '--all']);
    ok(e, ['secret', 'copy', '--from', 'aws_back', '--to', 'vault_global', '--all']);
    for (const m of ['vault_sm', 'default', 'aws_back', 'vault_global']) expect(snapshot(e, m), m).toEqual(original);
    const back = JSON.parse(onStack('vault_stack', ['--json', 'secret', 'get', 'mydb'])) as {
      schema: string;
      data: Record<string, unknown>;
    };
    expect(back).toMatchObject({ schema: 'mysql', data: { ssl_verify_server_cert: true } });

    // Re-running changes nothing, whatever the conflict policy.
    const again = ok(e, ['secret', 'copy', '--from', 'aws_sm', '--to', 'vault_sm', '--all']);
    expect(again).toContain('Copied 0 secrets');
    expect(again).toContain('unchanged: login, mydb, tls');
  });

  it('shows which keys differ, writes nothing on a conflict or a dry run, and updates when told', () => {
    onStack('aws_stack', ['secret', 'register', 'cfg', '--a=1', '--b=2']);
    ok(e, ['secret', 'copy', '--from', 'aws_sm', '--to', 'vault_sm', 'cfg']);
    onStack('vault_stack', ['secret', 'update', 'cfg', '--a=changed', '--c=3']);

    const conflict = cli(e, ['secret', 'copy', '--from', 'aws_sm', '--to', 'vault_sm', 'cfg']);
    expect(conflict.status).toBe(1);
    expect(conflict.stderr).toMatch(/conflict\s+cfg\s+differ: a; only in target: c/);
    expect(conflict.stderr).toMatch(
      /Error: nothing was written: 1 secret already exists in .* with other content: cfg/,
    );
    expect(conflict.stderr).toMatch(/Hint: Pass --on-conflict update/);
    expect(conflict.stdout).toBe('');

    const dry = ok(e, [
      'secret',
      'copy',
      '--from',
      'aws_sm',
      '--to',
      'vault_sm',
      'cfg',
      '--on-conflict',
      'update',
      '--dry-run',
    ]);
    expect(dry).toMatch(/update\s+cfg\s+differ: a; removed: c/);
    expect(dry).toContain('Dry run: nothing was written.');
    expect(onStack('vault_stack', ['secret', 'get', 'cfg', '--key', 'a'])).toBe('changed');

    expect(ok(e, ['secret', 'copy', '--from', 'aws_sm', '--to', 'vault_sm', 'cfg', '--on-conflict', 'skip'])).toContain(
      'skipped (exist with other content): cfg',
    );
    expect(onStack('vault_stack', ['secret', 'get', 'cfg', '--key', 'a'])).toBe('changed');
    ok(e, ['secret', 'copy', '--from', 'aws_sm', '--to', 'vault_sm', 'cfg', '--on-conflict', 'update']);
    expect(snapshot(e, 'vault_sm')['cfg']).toEqual({ $schema: 'arbitrary', a: '1', b: '2' });
  });

  it('--delete-source deletes each source only after its copy was read back equal', () => {
    ok(e, ['secrets-manager', 'register', 'moved', '--flavor=local']);
    const before = snapshot(e, 'vault_sm');
    const r = cli(e, ['secret', 'copy', '--from', 'vault_sm', '--to', 'moved', '--all', '--delete-source']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Deleted 4 source secrets after verifying their copies/);
    expect(snapshot(e, 'moved')).toEqual(before);
    expect(snapshot(e, 'vault_sm')).toEqual({});
  });

  it('usage mistakes exit 2', () => {
    for (const args of [
      ['secret', 'copy', '--from', 'aws_sm', '--to', 'vault_sm'],
      ['secret', 'copy', '--from', 'aws_sm', '--to', 'aws_sm', '--all'],
      ['secret', 'copy', '--from', 'aws_sm', '--to', 'vault_sm', 'x', '--all'],
      ['secret', 'copy', '--to', 'vault_sm', '--all'],
    ]) {
      const r = cli(e, args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^Error: .*\nHint: /);
    }
  });
});

describe('secret copy from ZenML layouts', () => {
  const configDir = mkdtempSync(join(tmpdir(), 'keystack-copy-zenml-'));
  const schemas = createSchemaRegistry();
  const managers: SecretsManager[] = [];
  const manager = (
    flavor: FlavorDefinition<unknown>,
    name: string,
    config: Record<string, unknown>,
    env: Record<string, string> = {},
  ) => {
    const m = new SecretsManager({
      record: { uuid: randomUUID(), name, flavor: flavor.name, config },
      flavor,
      configDir,
      env,
      schemas,
    });
    managers.push(m);
    return m;
  };
  const raw = new SecretsManagerClient({
    endpoint: AWS_ENDPOINT,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  afterAll(async () => {
    await Promise.all(managers.map((m) => m.close()));
    raw.destroy();
  });

  it('from an aws manager with scope_prefix=zenml: ZenML-typed values stay typed, into keystack layout and back into ZenML layout', async () => {
    const uuid = randomUUID();
    const awsConfig = { region_name: 'us-east-1', endpoint_url: AWS_ENDPOINT };
    const awsEnv = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };
    const name = `zn${randomBytes(4).toString('hex')}`;
    // What ZenML 0.30 writes: pydantic's JSON types, the schema in the payload and in the tags.
    await raw.send(
      new CreateSecretCommand({
        Name: `zenml/component/${uuid}/${name}`,
        SecretString: JSON.stringify({ host: 'db.internal', port: 5432, debug: true, zenml_schema_name: 'arbitrary' }),
        Tags: [
          { Key: 'zenml_scope', Value: 'component' },
          { Key: 'zenml_secret_name', Value: name },
          { Key: 'zenml_component_uuid', Value: uuid },
          { Key: 'zenml_component_name', Value: 'zenml_sm' },
          { Key: 'zenml_secret_schema', Value: 'arbitrary' },
        ],
      }),
    );
    const zenml = new SecretsManager({
      record: {
        uuid,
        name: 'zenml_sm',
        flavor: 'aws',
        config: { ...awsConfig, scope: 'component', scope_prefix: 'zenml' },
      },
      flavor: aws,
      configDir,
      env: awsEnv,
      schemas,
    });
    managers.push(zenml);
    const mine = manager(local, 'mine', { path: join(configDir, 'store.db') });
    const report = await copySecrets(zenml, mine, { names: [name] });
    expect(report.written).toEqual([name]);
    const copied = await mine.get(name);
    expect(typedValues(copied)).toEqual({ host: 'db.internal', port: 5432, debug: true });

    const ns = `team${randomBytes(3).toString('hex')}`;
    const zenmlAgain = manager(
      aws,
      'zenml_ns',
      { ...awsConfig, scope: 'namespace', namespace: ns, scope_prefix: 'zenml' },
      awsEnv,
    );
    await copySecrets(mine, zenmlAgain, { names: [name], deleteSource: true });
    const v = await raw.send(new GetSecretValueCommand({ SecretId: `zenml/namespace/${ns}/${name}` }));
    expect(JSON.parse(v.SecretString ?? '{}')).toEqual({
      host: 'db.internal',
      port: 5432,
      debug: true,
      zenml_schema_name: 'arbitrary',
    });
    expect(await mine.list()).toEqual([]);
    await zenmlAgain.delete(name);
    await zenml.delete(name);
  });

  it("from ZenML's per-key none-scope groups on gcp: each group copies as one secret; the read-only source is kept", async (t) => {
    const endpoint = process.env['GSM_GRPC'];
    if (!endpoint) return t.skip('GSM_GRPC is not set (no GCP Secret Manager emulator or double is running)');
    const project = `copy-none-${randomBytes(3).toString('hex')}`;
    const [host = '', port = ''] = endpoint.split(':');
    const client = new v1.SecretManagerServiceClient({
      apiEndpoint: host,
      port: Number(port),
      sslCreds: grpc.credentials.createInsecure(),
      universeDomain: 'googleapis.com',
      projectId: project,
    });
    try {
      const group = `grp_${randomBytes(3).toString('hex')}`;
      // ZenML 0.30's none scope: one Google secret per key, `<group>_<key>`, labelled with the group.
      for (const [key, value] of Object.entries({ username: 'admin', password: 'pw with spaces' })) {
        const id = `${group}_${key}`;
        await client.createSecret({
          parent: `projects/${project}`,
          secretId: id,
          secret: {
            replication: { automatic: {} },
            labels: { 'zenml-group-key': group, 'zenml-schema-name': 'basic_auth' },
          },
        });
        await client.addSecretVersion({
          parent: `projects/${project}/secrets/${id}`,
          payload: { data: Buffer.from(value, 'utf8') },
        });
      }
      const none = manager(
        gcp,
        'zenml_none',
        { project_id: project, api_endpoint: endpoint, scope: 'none', scope_prefix: 'zenml' },
        { METADATA_SERVER_DETECTION: 'none' },
      );
      const mine = manager(local, 'mine2', { path: join(configDir, 'store2.db') });
      expect(await none.list()).toEqual([group]);

      const err = await copySecrets(none, mine, { all: true, deleteSource: true }).then(
        () => null,
        (e: unknown) => e,
      );
      // The copy is written and verified; deleting a per-key group is refused, and the error says what happened.
      expect(err).toBeInstanceOf(TransferError);
      expect((err as Error).message).toMatch(
        new RegExp(
          `deleting the sources stopped \\(the copies were all written\\): 0 sources deleted, not deleted: ${group}`,
        ),
      );
      expect((err as Error).message).not.toContain('pw with spaces');
      expect(await mine.get(group)).toEqual({
        name: group,
        schema: 'basic_auth',
        values: { username: 'admin', password: 'pw with spaces' },
      });
      expect(await none.list()).toEqual([group]);
      // And without --delete-source a re-run is a no-op.
      expect((await copySecrets(none, mine, { all: true })).plan.map((p) => p.action)).toEqual(['unchanged']);
    } finally {
      await client.close();
    }
  });

  it("from ZenML's per-key none-scope groups on azure: a group copies as one secret; the read-only source is kept", async (t) => {
    const url = process.env['AKV_URL'];
    const ca = process.env['NODE_EXTRA_CA_CERTS'];
    if (!url || !ca)
      return t.skip('AKV_URL / NODE_EXTRA_CA_CERTS are not set (no Key Vault emulator or double is running)');
    const client = new SecretClient(
      url,
      { getToken: async () => ({ token: 'emulator', expiresOnTimestamp: Date.now() + 3.6e6 }) },
      {
        serviceVersion: '2025-07-01',
        disableChallengeResourceVerification: true,
        tlsOptions: { ca: readFileSync(ca) },
      },
    );
    const group = `grp-${randomBytes(3).toString('hex')}`;
    const members: string[] = [];
    try {
      // ZenML 0.30's none scope: one vault secret per key, named from hex(base64(group-key)), tagged with the group.
      for (const [key, value] of Object.entries({ username: 'admin', password: 'pw with spaces' })) {
        const vaultName = `zenml-${Buffer.from(Buffer.from(`${group}-${key}`).toString('base64')).toString('hex')}`;
        members.push(vaultName);
        await client.setSecret(vaultName, value, {
          tags: { 'zenml-group-key': group, 'zenml-key-name': key, 'zenml-schema-name': 'basic_auth' },
        });
      }
      const none = manager(
        azure,
        'zenml_none_az',
        { vault_url: url, access_token: 'emulator', scope: 'none', scope_prefix: 'zenml' },
        { NODE_EXTRA_CA_CERTS: ca },
      );
      const mine = manager(local, 'mine3', { path: join(configDir, 'store3.db') });
      const err = await copySecrets(none, mine, { names: [group], deleteSource: true }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TransferError);
      expect((err as Error).message).toMatch(
        /deleting the sources stopped \(the copies were all written\): 0 sources deleted/,
      );
      expect(await mine.get(group)).toEqual({
        name: group,
        schema: 'basic_auth',
        values: { username: 'admin', password: 'pw with spaces' },
      });
      expect(await none.get(group)).toEqual({
        name: group,
        schema: 'basic_auth',
        values: { username: 'admin', password: 'pw with spaces' },
      });
    } finally {
      for (const m of members)
        await client
          .beginDeleteSecret(m)
          .then((p) => p.pollUntilDone())
          .catch(() => undefined);
    }
  });
});

describe('an interrupted secret copy', () => {
  it('leaves each secret complete or absent after SIGKILL mid-copy, and a re-run finishes the job', () => {
    const e = tempEnv();
    ok(e, ['secrets-manager', 'flavor', 'register', resolve('test/transfer/fixtures/faulty-flavor.ts')]);
    ok(e, ['secrets-manager', 'register', 'dest', '--flavor=faulty', `--path=${join(e.configDir, 'dest-store')}`]);
    const doc = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [
        `s${String(i).padStart(2, '0')}`,
        { user: `u${i}`, password: `pw-${i}-${'x'.repeat(i * 50)}`, pem: PEM },
      ]),
    );
    const file = join(e.configDir, 'in.json');
    writeFileSync(file, JSON.stringify(doc));
    ok(e, ['import', file]);

    const killed = spawnSync(process.execPath, [BIN, 'secret', 'copy', '--from', 'default', '--to', 'dest', '--all'], {
      env: { ...e.env, KEYSTACK_TEST_KILL_AT: '15' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(killed.signal).toBe('SIGKILL');
    const partial = JSON.parse(ok(e, ['export', '--format', 'json', '-m', 'dest'])) as Record<string, unknown>;
    const names = Object.keys(partial);
    expect(names.length).toBeGreaterThanOrEqual(1);
    expect(names.length).toBeLessThan(40);
    // Every secret that made it is complete.
    for (const n of names) expect(partial[n], n).toEqual(doc[n]);

    const rerun = cli(e, ['secret', 'copy', '--from', 'default', '--to', 'dest', '--all', '--delete-source']);
    expect(rerun.status, rerun.stderr).toBe(0);
    expect(rerun.stderr).toMatch(new RegExp(`${40 - names.length} to create, 0 to update, ${names.length} unchanged`));
    expect(JSON.parse(ok(e, ['export', '--format', 'json', '-m', 'dest']))).toEqual(doc);
    expect(ok(e, ['secret', 'list'])).toBe('');
  });
});
