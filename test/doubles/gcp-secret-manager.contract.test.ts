/**
 * The GCP Secret Manager double keeps to the documented service behaviour: each rule that keystack
 * or ZenML depends on is asserted here through the real SDK, so loosening the double fails a test.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { v1 } from '@google-cloud/secret-manager';
import { compileFilter, startGsmDouble, type GsmDouble } from './gcp-secret-manager.js';

let d: GsmDouble;
let c: InstanceType<typeof v1.SecretManagerServiceClient>;
const parent = 'projects/contract';
const OPTS = { retry: null } as const;
const code = (want: grpc.status) => (e: { code?: number }) => e.code === want;

beforeAll(async () => {
  d = await startGsmDouble();
  const [host = '', port = ''] = d.endpoint.split(':');
  c = new v1.SecretManagerServiceClient({
    apiEndpoint: host,
    port: Number(port),
    sslCreds: grpc.credentials.createInsecure(),
    universeDomain: 'googleapis.com',
    projectId: 'contract',
  });
});
afterAll(async () => {
  await c.close();
  await d.close();
});

const create = (secretId: string, labels: Record<string, string> = {}) =>
  c.createSecret({ parent, secretId, secret: { labels, replication: { automatic: {} } } }, OPTS);
const ids = async (filter: string) =>
  (await c.listSecrets({ parent, filter }, { ...OPTS, autoPaginate: true }))[0].map((s) => s.name?.split('/').pop());

describe('GCP Secret Manager double: contract', () => {
  it('requires replication on create', async () => {
    await assert.rejects(
      c.createSecret({ parent, secretId: 'norepl', secret: { labels: {} } }, OPTS),
      code(grpc.status.INVALID_ARGUMENT),
    );
    await assert.rejects(c.createSecret({ parent, secretId: 'norepl' }, OPTS), code(grpc.status.INVALID_ARGUMENT));
  });

  it('enforces label syntax and the 64-label limit', async () => {
    await assert.rejects(create('l1', { Upper: 'v' }), code(grpc.status.INVALID_ARGUMENT));
    await assert.rejects(create('l2', { '1digit': 'v' }), code(grpc.status.INVALID_ARGUMENT));
    await assert.rejects(create('l3', { k: 'Upper' }), code(grpc.status.INVALID_ARGUMENT));
    await assert.rejects(create('l4', { ['k'.repeat(64)]: 'v' }), code(grpc.status.INVALID_ARGUMENT));
    await assert.rejects(create('l5', { k: 'v'.repeat(64) }), code(grpc.status.INVALID_ARGUMENT));
    await create('l6', { ['k'.repeat(63)]: 'v'.repeat(63), empty: '' });
    const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    await create('l64', many(64));
    await assert.rejects(create('l65', many(65)), code(grpc.status.INVALID_ARGUMENT));
    await assert.rejects(
      c.updateSecret(
        { secret: { name: `${parent}/secrets/l64`, labels: many(65) }, updateMask: { paths: ['labels'] } },
        OPTS,
      ),
      code(grpc.status.INVALID_ARGUMENT),
    );
  });

  it('applies every documented filter form, and rejects what it cannot parse', async () => {
    await create('fa_one', { 'zenml-group-key': 'fa', team: 'x' });
    await create('fa_two', { 'zenml-group-key': 'fa' });
    await create('fb', { keystack_scope: 'global', team: 'y' });
    await create('fc', {});
    const sorted = async (f: string) => (await ids(f)).filter((i) => i?.startsWith('f')).sort();
    assert.deepEqual(await sorted('labels.zenml-group-key:*'), ['fa_one', 'fa_two']);
    assert.deepEqual(await sorted('labels.zenml-group-key=fa'), ['fa_one', 'fa_two']);
    assert.deepEqual(await sorted('NOT labels.keystack_scope:*'), ['fa_one', 'fa_two', 'fc']);
    assert.deepEqual(await sorted('-labels.keystack_scope:*'), ['fa_one', 'fa_two', 'fc']);
    assert.deepEqual(await sorted('labels.keystack_scope=global AND labels.team=y'), ['fb']);
    assert.deepEqual(await sorted('labels.team=x OR labels.team=y'), ['fa_one', 'fb']);
    assert.deepEqual(await sorted('labels.zenml-group-key:* labels.team=x'), ['fa_one']);
    assert.deepEqual(await sorted('(labels.team=x OR labels.team=y) AND NOT labels.keystack_scope:*'), ['fa_one']);
    // ZenML sends `name:<name>` (contains) with its label terms.
    assert.deepEqual(await sorted('name:fa_ AND labels.zenml-group-key=fa'), ['fa_one', 'fa_two']);
    assert.deepEqual(await sorted('name:"fc"'), ['fc']);
    for (const bad of [
      'labels.team',
      'labels.team==x',
      'owner:me',
      '(labels.team=x',
      'AND labels.team=x',
      'labels.team=x)',
    ]) {
      await assert.rejects(
        c.listSecrets({ parent, filter: bad }, { ...OPTS, autoPaginate: false }),
        code(grpc.status.INVALID_ARGUMENT),
        bad,
      );
    }
    assert.equal(compileFilter('', (m) => new Error(m))({ name: 'x', labels: {} }), true);
  });

  it('ties page tokens to their query and rejects a bad one', async () => {
    for (let i = 0; i < 5; i++) await create(`page${i}`, { paged: 'yes' });
    const [first, , res] = await c.listSecrets(
      { parent, filter: 'labels.paged=yes', pageSize: 2 },
      { ...OPTS, autoPaginate: false },
    );
    assert.equal(first.length, 2);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the raw page response is typed as always there; the test reads it as gcp.ts does
    const token = res?.nextPageToken ?? '';
    assert.notEqual(token, '');
    const [second] = await c.listSecrets(
      { parent, filter: 'labels.paged=yes', pageSize: 2, pageToken: token },
      { ...OPTS, autoPaginate: false },
    );
    assert.deepEqual(
      second.map((s) => s.name?.split('/').pop()),
      ['page2', 'page3'],
    );
    await assert.rejects(
      c.listSecrets(
        { parent, filter: 'labels.paged:*', pageSize: 2, pageToken: token },
        { ...OPTS, autoPaginate: false },
      ),
      code(grpc.status.INVALID_ARGUMENT),
    );
    await assert.rejects(
      c.listSecrets(
        { parent, filter: 'labels.paged=yes', pageSize: 3, pageToken: token },
        { ...OPTS, autoPaginate: false },
      ),
      code(grpc.status.INVALID_ARGUMENT),
    );
    await assert.rejects(
      c.listSecrets({ parent, pageToken: '2' }, { ...OPTS, autoPaginate: false }),
      code(grpc.status.INVALID_ARGUMENT),
    );
  });

  it('has disabled and destroyed versions; latest is the newest whatever its state; access is FAILED_PRECONDITION', async () => {
    await create('ver');
    const path = `${parent}/secrets/ver`;
    await c.addSecretVersion({ parent: path, payload: { data: Buffer.from('one') } }, OPTS);
    await c.addSecretVersion({ parent: path, payload: { data: Buffer.from('two') } }, OPTS);
    await c.disableSecretVersion({ name: `${path}/versions/2` }, OPTS);
    await assert.rejects(
      c.accessSecretVersion({ name: `${path}/versions/latest` }, OPTS),
      code(grpc.status.FAILED_PRECONDITION),
    );
    await assert.rejects(
      c.accessSecretVersion({ name: `${path}/versions/2` }, OPTS),
      code(grpc.status.FAILED_PRECONDITION),
    );
    const [one] = await c.accessSecretVersion({ name: `${path}/versions/1` }, OPTS);
    assert.equal(Buffer.from(one.payload?.data as Uint8Array).toString(), 'one');
    await c.enableSecretVersion({ name: `${path}/versions/2` }, OPTS);
    await c.destroySecretVersion({ name: `${path}/versions/1` }, OPTS);
    await assert.rejects(
      c.accessSecretVersion({ name: `${path}/versions/1` }, OPTS),
      code(grpc.status.FAILED_PRECONDITION),
    );
    await assert.rejects(
      c.enableSecretVersion({ name: `${path}/versions/1` }, OPTS),
      code(grpc.status.FAILED_PRECONDITION),
    );
    const [v] = await c.getSecretVersion({ name: `${path}/versions/1` }, OPTS);
    assert.equal(v.state, 'DESTROYED');
    await assert.rejects(c.accessSecretVersion({ name: `${path}/versions/3` }, OPTS), code(grpc.status.NOT_FOUND));
    await create('empty');
    await assert.rejects(
      c.accessSecretVersion({ name: `${parent}/secrets/empty/versions/latest` }, OPTS),
      code(grpc.status.NOT_FOUND),
    );
  });

  it('numbers versions 1, 2, 3 …; lists them newest first, paged, with states and no payload', async () => {
    await create('numbered');
    const path = `${parent}/secrets/numbered`;
    const added = [];
    for (const p of ['a', 'b', 'c', 'd', 'e'])
      added.push((await c.addSecretVersion({ parent: path, payload: { data: Buffer.from(p) } }, OPTS))[0].name);
    assert.deepEqual(
      added,
      [1, 2, 3, 4, 5].map((n) => `${path}/versions/${n}`),
    );
    await c.disableSecretVersion({ name: `${path}/versions/4` }, OPTS);
    await c.destroySecretVersion({ name: `${path}/versions/2` }, OPTS);
    const [first, , res] = await c.listSecretVersions({ parent: path, pageSize: 3 }, { ...OPTS, autoPaginate: false });
    assert.deepEqual(
      first.map((v) => [v.name?.split('/').pop(), v.state]),
      [
        ['5', 'ENABLED'],
        ['4', 'DISABLED'],
        ['3', 'ENABLED'],
      ],
    );
    assert.ok(first.every((v) => !('payload' in v) || v.payload === null));
    assert.ok(res.nextPageToken);
    const [rest] = await c.listSecretVersions(
      { parent: path, pageSize: 3, pageToken: res.nextPageToken },
      { ...OPTS, autoPaginate: false },
    );
    assert.deepEqual(
      rest.map((v) => [v.name?.split('/').pop(), v.state, v.destroyTime ? 'destroyed at' : '']),
      [
        ['2', 'DESTROYED', 'destroyed at'],
        ['1', 'ENABLED', ''],
      ],
    );
    // A new version takes the next number, after disabled and destroyed ones.
    const [six] = await c.addSecretVersion({ parent: path, payload: { data: Buffer.from('f') } }, OPTS);
    assert.equal(six.name, `${path}/versions/6`);
    const [latest] = await c.accessSecretVersion({ name: `${path}/versions/latest` }, OPTS);
    assert.equal(latest.name, `${path}/versions/6`);
    await assert.rejects(
      c.accessSecretVersion({ name: `${path}/versions/4` }, OPTS),
      (e: { code?: number; details?: string }) =>
        e.code === grpc.status.FAILED_PRECONDITION && /DISABLED state/.test(e.details ?? ''),
    );
    await assert.rejects(
      c.disableSecretVersion({ name: `${path}/versions/latest` }, OPTS),
      code(grpc.status.INVALID_ARGUMENT),
    );
    await assert.rejects(
      c.listSecretVersions({ parent: `${parent}/secrets/nothing-here` }, { ...OPTS, autoPaginate: false }),
      code(grpc.status.NOT_FOUND),
    );
  });

  it('UpdateSecret and DeleteSecret with a stale etag are ABORTED; UpdateSecret needs a mask', async () => {
    const [s0] = await create('tag', { a: 'b' });
    const s = { name: s0.name ?? '' };
    const etag = s0.etag ?? '';
    assert.match(etag, /^".+"$/);
    const [u] = await c.updateSecret(
      { secret: { name: s.name, etag, annotations: { keystack_cas: '1@2' } }, updateMask: { paths: ['annotations'] } },
      OPTS,
    );
    assert.notEqual(u.etag, etag);
    assert.deepEqual({ ...u.labels }, { a: 'b' });
    await assert.rejects(
      c.updateSecret({ secret: { name: s.name, etag, labels: { a: 'c' } }, updateMask: { paths: ['labels'] } }, OPTS),
      code(grpc.status.ABORTED),
    );
    await assert.rejects(
      c.updateSecret({ secret: { name: s.name, labels: { a: 'c' } } }, OPTS),
      code(grpc.status.INVALID_ARGUMENT),
    );
    await assert.rejects(
      c.updateSecret({ secret: { name: s.name }, updateMask: { paths: ['replication'] } }, OPTS),
      code(grpc.status.INVALID_ARGUMENT),
    );
    await assert.rejects(c.deleteSecret({ name: s.name, etag }, OPTS), code(grpc.status.ABORTED));
    await c.deleteSecret({ name: s.name, etag: u.etag ?? '' }, OPTS);
  });

  it('fails on demand with PERMISSION_DENIED and RESOURCE_EXHAUSTED (quota)', async () => {
    d.failNext(grpc.status.PERMISSION_DENIED, 1, 'GetSecret');
    await assert.rejects(c.getSecret({ name: `${parent}/secrets/ver` }, OPTS), code(grpc.status.PERMISSION_DENIED));
    d.failNext(grpc.status.RESOURCE_EXHAUSTED, 1, 'GetSecret');
    await assert.rejects(
      c.getSecret({ name: `${parent}/secrets/ver` }, OPTS),
      (e: { code?: number; details?: string }) =>
        e.code === grpc.status.RESOURCE_EXHAUSTED && /Quota exceeded/.test(e.details ?? ''),
    );
    await c.getSecret({ name: `${parent}/secrets/ver` }, OPTS);
  });

  it('keeps ids, ALREADY_EXISTS and the 64 KiB payload limit', async () => {
    await assert.rejects(create('bad.id'), code(grpc.status.INVALID_ARGUMENT));
    await assert.rejects(create('ver'), code(grpc.status.ALREADY_EXISTS));
    await assert.rejects(
      c.addSecretVersion({ parent: `${parent}/secrets/ver`, payload: { data: Buffer.alloc(65537) } }, OPTS),
      code(grpc.status.INVALID_ARGUMENT),
    );
    await c.addSecretVersion({ parent: `${parent}/secrets/ver`, payload: { data: Buffer.alloc(65536) } }, OPTS);
  });
});
