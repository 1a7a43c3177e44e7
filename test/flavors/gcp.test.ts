import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { v1 } from '@google-cloud/secret-manager';
import * as grpc from '@grpc/grpc-js';
import gcp, { _labelValue } from '../../src/flavors/gcp.js';
import { SecretsManager } from '../../src/core/manager.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';
import { backendNames } from '../../src/secrets/scope.js';
import { createServer, type Server, type Socket } from 'node:net';
import { testFlavor, type FaultInjection, type FaultMode } from '../../src/testing/index.js';
import { vitestRunner } from '../support/runner.js';
import { startGsmDouble, type GsmDouble } from '../doubles/gcp-secret-manager.js';
import { cliAsync, tempEnv } from '../support/cli.js';
import { assertStaleWriteConflicts, assertConcurrentUpdates } from '../support/compare-and-set.js';

const endpoint = process.env['GSM_GRPC'];
if (!endpoint) {
  throw new Error(
    'GSM_GRPC is not set: start the emulators (scripts/emulators/start.sh, then source its env.sh), or the in-repo double: npx tsx test/doubles/gcp-secret-manager.ts --port 9090 and GSM_GRPC=127.0.0.1:9090',
  );
}
// A fresh project per run: the emulator keeps state between runs.
const project = `ks-test-${randomBytes(4).toString('hex')}`;
const config = { project_id: project, api_endpoint: endpoint };
const env = { ...process.env, METADATA_SERVER_DETECTION: 'none' };

const manager = (cfg: Record<string, unknown>, uuid = randomUUID(), name = 'gcp-test') =>
  new SecretsManager({
    record: { uuid, name, flavor: 'gcp', config: cfg },
    flavor: gcp,
    configDir: '/nonexistent',
    env,
    schemas: createSchemaRegistry(),
  });

const [host = '', port = ''] = endpoint.split(':');
const rawClient = () =>
  new v1.SecretManagerServiceClient({
    apiEndpoint: host,
    port: Number(port),
    sslCreds: grpc.credentials.createInsecure(),
    universeDomain: 'googleapis.com',
    projectId: project,
  });

/**
 * GCP speaks gRPC, so an HTTP proxy cannot fail its calls: the in-repo double fails every call
 * with the status a real server would send, and a raw TCP server breaks the transport.
 */
const grpcFaults: FaultInjection = {
  staged: false,
  async setup(mode: FaultMode) {
    const codes: Partial<Record<FaultMode, grpc.status>> = {
      unauthorized: status.UNAUTHENTICATED,
      forbidden: status.PERMISSION_DENIED,
      server_error: status.INTERNAL,
      unavailable: status.UNAVAILABLE,
      throttled: status.RESOURCE_EXHAUSTED,
    };
    const code = codes[mode];
    if (code !== undefined) {
      const d = await startGsmDouble();
      d.failNext(code, 1_000_000);
      return { config: { project_id: project, api_endpoint: d.endpoint }, close: () => d.close() };
    }
    // refused: a port nobody listens on; reset: accept and close; malformed: answer with bytes that are not HTTP/2.
    const sockets = new Set<Socket>();
    const server: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      if (mode === 'malformed') socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"truncated');
      else socket.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    // close() waits for open connections, and a half-closed one may never end on its own.
    const close = () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          r();
        });
      });
    if (mode === 'refused') await close();
    return {
      config: { project_id: project, api_endpoint: `127.0.0.1:${port}` },
      close: mode === 'refused' ? () => Promise.resolve() : close,
    };
  },
};

testFlavor({
  flavor: gcp,
  config,
  env,
  runner: vitestRunner,
  faults: grpcFaults,
});

describe('gcp specifics', () => {
  it('reads and writes ZenML 0.30 scoped secrets with scope_prefix=zenml', async () => {
    const raw = rawClient();
    const uuid = randomUUID();
    const labels = {
      zenml_scope: 'component',
      zenml_secret_name: 'db_creds',
      zenml_component_uuid: uuid,
      zenml_component_name: 'gsm',
      zenml_secret_schema: 'arbitrary',
    };
    const parent = `projects/${project}`;
    await raw.createSecret({
      parent,
      secretId: `zenml-component-${uuid}-db_creds`,
      secret: { labels, replication: { automatic: {} } },
    });
    await raw.addSecretVersion({
      parent: `${parent}/secrets/zenml-component-${uuid}-db_creds`,
      payload: { data: Buffer.from('{"user":"u","zenml_schema_name":"arbitrary"}') },
    });
    const m = manager({ ...config, scope: 'component', scope_prefix: 'zenml' }, uuid, 'gsm');
    assert.deepEqual((await m.get('db_creds')).values, { user: 'u' });
    assert.deepEqual(await m.list(), ['db_creds']);
    await m.register('other', { k: 'v' }, { schema: 'arbitrary' });
    const [s] = await raw.getSecret({ name: `${parent}/secrets/zenml-component-${uuid}-other` });
    assert.deepEqual({ ...s.labels }, { ...labels, zenml_secret_name: 'other' });
    const [v] = await raw.accessSecretVersion({
      name: `${parent}/secrets/zenml-component-${uuid}-other/versions/latest`,
    });
    assert.deepEqual(JSON.parse(Buffer.from(v.payload!.data as Uint8Array).toString()), {
      k: 'v',
      zenml_schema_name: 'arbitrary',
    });
    assert.equal(await m.deleteAll(), 2);
    await m.close();
    await raw.close();
  });

  it('maps an uppercase component name to a valid label value', async () => {
    assert.equal(_labelValue('My Stack.GSM'), 'my_stack_gsm');
    assert.equal(_labelValue('X'.repeat(80)).length, 63);
    const m = manager({ ...config, scope: 'component' }, randomUUID(), 'Prod GSM.Manager');
    await m.register('upper', { k: 'v' });
    assert.deepEqual((await m.get('upper')).values, { k: 'v' });
    await m.delete('upper');
    await m.close();
  });

  it('refuses unscoped names that would read as another scope', async () => {
    const m = manager({ ...config, scope: 'none' });
    await assert.rejects(
      m.register('keystack-global-x', { k: 'v' }),
      (e: { code?: string }) => e.code === 'invalid_name',
    );
    await m.close();
  });

  it("reads ZenML's none-scope per-key groups as one read-only secret, and never lists or deletes their members", async () => {
    // A project of its own: delete-all in `none` scope sees every unscoped secret of the project.
    const proj = `${project}-none`;
    const raw = new v1.SecretManagerServiceClient({
      apiEndpoint: host,
      port: Number(port),
      sslCreds: grpc.credentials.createInsecure(),
      universeDomain: 'googleapis.com',
      projectId: proj,
    });
    const parent = `projects/${proj}`;
    const put = async (id: string, labels: Record<string, string>, value: string) => {
      await raw.createSecret({ parent, secretId: id, secret: { labels, replication: { automatic: {} } } });
      await raw.addSecretVersion({ parent: `${parent}/secrets/${id}`, payload: { data: Buffer.from(value) } });
    };
    // ZenML 0.30's layout for `zenml secrets-manager secret register zgrp --user=u --password=p` in `none` scope.
    for (const [k, v] of [
      ['user', 'u'],
      ['password', 'p w'],
    ])
      await put(`zgrp_${k}`, { 'zenml-group-key': 'zgrp', 'zenml-schema-name': 'arbitrary' }, v!);
    await put('foreign', {}, 'not json at all');
    const m = manager({ project_id: proj, api_endpoint: endpoint, scope: 'none' });
    await m.register('mine', { k: 'v' });
    assert.deepEqual(await m.list(), ['mine', 'zgrp']);
    assert.deepEqual(await m.get('zgrp'), {
      name: 'zgrp',
      schema: 'arbitrary',
      values: { user: 'u', password: 'p w' },
    });
    await assert.rejects(
      m.update('zgrp', { user: 'x' }, { schema: 'arbitrary' }),
      (e: { code?: string }) => e.code === 'unsupported',
    );
    await assert.rejects(m.patch('zgrp', { set: { user: 'x' } }), (e: { code?: string }) => e.code === 'unsupported');
    await assert.rejects(
      m.delete('zgrp'),
      (e: { code?: string; hint?: string }) => e.code === 'unsupported' && /copy/i.test(e.hint ?? ''),
    );
    await assert.rejects(m.register('zgrp', { k: 'v' }), (e: { code?: string }) => e.code === 'secret_exists');
    await assert.rejects(
      m.get('zgrp_user'),
      (e: { code?: string; hint?: string }) => e.code === 'unsupported' && /secret get zgrp/.test(e.hint ?? ''),
    );
    assert.equal(await m.deleteAll(), 1);
    const [left] = await raw.listSecrets({ parent });
    assert.deepEqual(left.map((x) => x.name?.split('/').pop()).sort(), ['foreign', 'zgrp_password', 'zgrp_user']);
    await m.close();
    await raw.close();
  });

  it('keeps the schema label in step with the content on update', async () => {
    const raw = rawClient();
    const m = manager({ ...config, scope: 'global' });
    await m.register('relabel', { username: 'u', password: 'p' });
    await m.update('relabel', { username: 'u', password: 'p' }, { schema: 'basic_auth' });
    const [s] = await raw.getSecret({ name: `projects/${project}/secrets/keystack-global-relabel` });
    assert.equal(s.labels?.['keystack_secret_schema'], 'basic_auth');
    assert.equal((await m.get('relabel')).schema, 'basic_auth');
    await m.delete('relabel');
    await m.close();
    await raw.close();
  });

  it('8 concurrent `secret update --KEY=…` processes: every key is kept, or every process whose key is missing failed', async () => {
    const e = tempEnv({ METADATA_SERVER_DETECTION: 'none' });
    const ok = async (args: string[]) => {
      const r = await cliAsync(e, args);
      assert.equal(r.status, 0, r.stderr);
    };
    await ok([
      'secrets-manager',
      'register',
      'gsm',
      '--flavor=gcp',
      '--scope=global',
      `--project_id=${project}`,
      `--api_endpoint=${endpoint}`,
    ]);
    await ok(['stack', 'register', 'gsm-stack', '-x', 'gsm', '--set']);
    await ok(['secret', 'register', 'merged', '--k0=v']);
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => cliAsync(e, ['secret', 'update', 'merged', `--p${i}=v${i}`])),
    );
    const m = manager({ ...config, scope: 'global' });
    const values = (await m.get('merged')).values;
    // A process may lose the race, and must say so; it may not fail for any other reason.
    assertConcurrentUpdates(runs, values);
    assert.equal(values['k0'], 'v');
    await m.delete('merged');
    await m.close();
  });

  describe('against the in-repo double (fault injection)', () => {
    let d: GsmDouble;
    beforeAll(async () => void (d = await startGsmDouble()));
    afterAll(async () => d.close());
    const local = (scope = 'component') => manager({ project_id: 'p', api_endpoint: d.endpoint, scope });

    it('sends the real label filters, which the double applies', async () => {
      const a = local();
      const b = local();
      const n = local('none');
      await a.register('mine', { k: 'v' });
      await n.register('plain', { k: 'v' });
      assert.deepEqual(await b.list(), []);
      assert.deepEqual(await n.list(), ['plain']);
      assert.ok(d.filters.includes('NOT labels.keystack_scope:*'));
      assert.ok(
        d.filters.some((f) =>
          /^labels\.keystack_scope=component AND labels\.keystack_component_uuid=[0-9a-f-]{36}$/.test(f),
        ),
        d.filters.join('\n'),
      );
      await Promise.all([a, b, n].map((m) => m.close()));
    });

    it('repairs a register that crashed between its two calls; until then get and list agree', async () => {
      const m = local('global');
      const raw = new v1.SecretManagerServiceClient({
        apiEndpoint: '127.0.0.1',
        port: Number(d.endpoint.split(':')[1]),
        sslCreds: grpc.credentials.createInsecure(),
        universeDomain: 'googleapis.com',
        projectId: 'p',
      });
      // What a register leaves when the process dies after CreateSecret and before AddSecretVersion.
      await raw.createSecret({
        parent: 'projects/p',
        secretId: 'keystack-global-halfway',
        secret: {
          labels: { keystack_scope: 'global', keystack_secret_name: 'halfway', keystack_secret_schema: 'arbitrary' },
          replication: { automatic: {} },
        },
      });
      assert.ok((await m.list()).includes('halfway'));
      await assert.rejects(
        m.get('halfway'),
        (e: { code?: string; hint?: string }) => e.code === 'backend' && /register/.test(e.hint ?? ''),
      );
      d.backdate('p', 'keystack-global-halfway', 60_000);
      await m.register('halfway', { k: 'v' });
      assert.deepEqual((await m.get('halfway')).values, { k: 'v' });
      await assert.rejects(m.register('halfway', { k: 'v2' }), (e: { code?: string }) => e.code === 'secret_exists');
      await m.delete('halfway');
      await raw.close();
      await m.close();
    });

    it('a disabled latest version is an error with a hint, not "not found"', async () => {
      const m = local('global');
      await m.register('off', { k: 'v' });
      const raw = new v1.SecretManagerServiceClient({
        apiEndpoint: '127.0.0.1',
        port: Number(d.endpoint.split(':')[1]),
        sslCreds: grpc.credentials.createInsecure(),
        universeDomain: 'googleapis.com',
        projectId: 'p',
      });
      await raw.disableSecretVersion({ name: 'projects/p/secrets/keystack-global-off/versions/1' });
      await assert.rejects(
        m.get('off'),
        (e: { code?: string; message?: string }) =>
          e.code === 'backend' && /disabled or destroyed/.test(e.message ?? ''),
      );
      await m.delete('off');
      await raw.close();
      await m.close();
    });

    it('a stale compare-and-set is a conflict (UpdateSecret on the etag is ABORTED)', async () => {
      const scope = { scope: 'global', componentUuid: randomUUID(), componentName: 'x', prefix: 'keystack' } as const;
      const be = gcp.create({
        config: { project_id: 'p', api_endpoint: d.endpoint },
        scope,
        names: backendNames(scope, '-', () => true),
        configDir: '/nonexistent',
        env,
      });
      await assertStaleWriteConflicts(be);
    });

    it('retries RESOURCE_EXHAUSTED, then succeeds', async () => {
      const m = local();
      d.failNext(status.RESOURCE_EXHAUSTED, 2, 'ListSecrets');
      assert.deepEqual(await m.list(), []);
      await m.close();
    });

    it('PERMISSION_DENIED is a BackendError with a hint, never "not found"', async () => {
      const m = local();
      d.failNext(status.PERMISSION_DENIED, 1, 'AccessSecretVersion');
      await assert.rejects(
        m.get('x'),
        (e: { code?: string; hint?: string }) => e.code === 'backend' && /secretmanager/.test(e.hint ?? ''),
      );
      await m.close();
    });
  });

  it('an unreachable endpoint is a BackendError', async () => {
    const m = manager({ project_id: 'p', api_endpoint: '127.0.0.1:1' });
    const t0 = Date.now();
    await assert.rejects(
      m.get('x'),
      (e: { code?: string; message?: string }) => e.code === 'backend' && /UNAVAILABLE/.test(e.message ?? ''),
    );
    assert.ok(Date.now() - t0 < 20_000);
    await m.close();
  });
});
