import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { v1 } from '@google-cloud/secret-manager';
import * as grpc from '@grpc/grpc-js';
import gcp, { _labelValue } from '../../src/flavors/gcp.js';
import { SecretsManager } from '../../src/flavors/manager.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';
import { createServer, type Server, type Socket } from 'node:net';
import { testFlavor, type FaultInjection, type FaultMode } from '../../src/testing/index.js';
import { vitestRunner } from '../support/runner.js';
import { startGsmDouble, type GsmDouble } from '../doubles/gcp-secret-manager.js';

const endpoint = process.env['GSM_GRPC'];
if (!endpoint) {
  throw new Error('GSM_GRPC is not set: start the emulators (scripts/emulators/start.sh, then source its env.sh), or the in-repo double: npx tsx test/doubles/gcp-secret-manager.ts --port 9090 and GSM_GRPC=127.0.0.1:9090');
}
// A fresh project per run: the emulator keeps state between runs.
const project = `ks-test-${randomBytes(4).toString('hex')}`;
const config = { project_id: project, api_endpoint: endpoint };
const env = { ...process.env, METADATA_SERVER_DETECTION: 'none' };

const manager = (cfg: Record<string, unknown>, uuid = randomUUID(), name = 'gcp-test') =>
  new SecretsManager({ record: { uuid, name, flavor: 'gcp', config: cfg }, flavor: gcp, configDir: '/nonexistent', env, schemas: createSchemaRegistry() });

const [host = '', port = ''] = endpoint.split(':');
const rawClient = () =>
  new v1.SecretManagerServiceClient({ apiEndpoint: host, port: Number(port), sslCreds: grpc.credentials.createInsecure(), universeDomain: 'googleapis.com', projectId: project });

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
    const close = () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => {
        r();
      });
    });
    if (mode === 'refused') await close();
    return { config: { project_id: project, api_endpoint: `127.0.0.1:${port}` }, close: mode === 'refused' ? () => Promise.resolve() : close };
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
    const labels = { zenml_scope: 'component', zenml_secret_name: 'db_creds', zenml_component_uuid: uuid, zenml_component_name: 'gsm', zenml_secret_schema: 'arbitrary' };
    const parent = `projects/${project}`;
    await raw.createSecret({ parent, secretId: `zenml-component-${uuid}-db_creds`, secret: { labels, replication: { automatic: {} } } });
    await raw.addSecretVersion({ parent: `${parent}/secrets/zenml-component-${uuid}-db_creds`, payload: { data: Buffer.from('{"user":"u","zenml_schema_name":"arbitrary"}') } });
    const m = manager({ ...config, scope: 'component', scope_prefix: 'zenml' }, uuid, 'gsm');
    assert.deepEqual((await m.get('db_creds')).values, { user: 'u' });
    assert.deepEqual(await m.list(), ['db_creds']);
    await m.register('other', { k: 'v' }, { schema: 'arbitrary' });
    const [s] = await raw.getSecret({ name: `${parent}/secrets/zenml-component-${uuid}-other` });
    assert.deepEqual({ ...s.labels }, { ...labels, zenml_secret_name: 'other' });
    const [v] = await raw.accessSecretVersion({ name: `${parent}/secrets/zenml-component-${uuid}-other/versions/latest` });
    assert.deepEqual(JSON.parse(Buffer.from(v.payload!.data as Uint8Array).toString()), { k: 'v', zenml_schema_name: 'arbitrary' });
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
    await assert.rejects(m.register('keystack-global-x', { k: 'v' }), (e: { code?: string }) => e.code === 'invalid_name');
    await m.close();
  });

  describe('against the in-repo double (fault injection)', () => {
    let d: GsmDouble;
    beforeAll(async () => void (d = await startGsmDouble({ filter: 'ignore' })));
    afterAll(async () => d.close());
    const local = (scope = 'component') => manager({ project_id: 'p', api_endpoint: d.endpoint, scope });

    it('filters by labels on the client when the server ignores the filter, and sends the real filter', async () => {
      const a = local();
      const b = local();
      const n = local('none');
      await a.register('mine', { k: 'v' });
      await n.register('plain', { k: 'v' });
      assert.deepEqual(await b.list(), []);
      assert.deepEqual(await n.list(), ['plain']);
      assert.ok(d.filters.includes('NOT labels.keystack_scope:*'));
      assert.ok(d.filters.some((f) => /^labels\.keystack_scope=component AND labels\.keystack_component_uuid=[0-9a-f-]{36}$/.test(f)), d.filters.join('\n'));
      await Promise.all([a, b, n].map((m) => m.close()));
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
      await assert.rejects(m.get('x'), (e: { code?: string; hint?: string }) => e.code === 'backend' && /secretmanager/.test(e.hint ?? ''));
      await m.close();
    });
  });

  it('an unreachable endpoint is a BackendError', async () => {
    const m = manager({ project_id: 'p', api_endpoint: '127.0.0.1:1' });
    const t0 = Date.now();
    await assert.rejects(m.get('x'), (e: { code?: string; message?: string }) => e.code === 'backend' && /UNAVAILABLE/.test(e.message ?? ''));
    assert.ok(Date.now() - t0 < 20_000);
    await m.close();
  });
});
