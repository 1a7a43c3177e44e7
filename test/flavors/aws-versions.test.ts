import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';
import { afterAll, describe, it } from 'vitest';
import aws from '../../src/flavors/aws.js';
import { backendNames } from '../../src/secrets/scope.js';
import type { SecretsBackend } from '../../src/core/types.js';
import { fakeServer, requireEnv } from '../support/fake-http.js';
import { assertBackendVersions } from '../support/backend-versions.js';

const endpoint = requireEnv('AWS_SM_ENDPOINT', 'the moto server (AWS Secrets Manager emulator)');
const env = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };

/** Forwards to moto and records each request's action (X-Amz-Target), to count the calls. */
const actions: string[] = [];
const proxy = await fakeServer((req, res, body) => {
  actions.push(String(req.headers['x-amz-target'] ?? '').replace(/^secretsmanager\./, ''));
  const headers: IncomingHttpHeaders = { ...req.headers, host: new URL(endpoint).host };
  const out = request(`${endpoint}${req.url ?? '/'}`, { method: req.method, headers }, (r) => {
    res.writeHead(r.statusCode ?? 500, r.headers);
    r.pipe(res);
  });
  out.end(body);
});
afterAll(() => proxy.close());

const backend = (scopeName: 'none' | 'global' = 'global'): SecretsBackend => {
  const scope = { scope: scopeName, componentUuid: randomUUID(), componentName: 'v', prefix: 'keystack' } as const;
  return aws.create({
    config: {
      region_name: 'us-east-1',
      endpoint_url: proxy.url,
      aws_access_key_id: 'testing',
      aws_secret_access_key: 'testing',
    },
    scope,
    names: backendNames(scope, '/', () => true),
    configDir: '/nonexistent',
    env,
  });
};
const fresh = () => `ver${randomBytes(5).toString('hex')}`;
/** The actions `fn` sends. */
const counted = async (fn: () => Promise<unknown>) => {
  const from = actions.length;
  await fn();
  return actions.slice(from);
};

describe('aws versions (VersionIds and stages)', () => {
  it('lists, reads and retires versions; the compare-and-set token is the VersionId', async () => {
    const be = backend();
    await assertBackendVersions(be, { name: fresh(), unknownId: randomUUID(), retiredReadable: true });
    await be.close?.();
  });

  it('labels with the stages as AWS names them, and retiring takes AWSPREVIOUS away', async () => {
    const be = backend('none');
    const name = fresh();
    await be.create(name, { schema: 'arbitrary', values: { a: '1' } });
    await be.update(name, { schema: 'arbitrary', values: { a: '2' } });
    const [cur, prev] = (await be.versions?.(name)) ?? [];
    assert.ok(cur && prev);
    assert.deepEqual(cur.labels, ['current', 'AWSCURRENT']);
    assert.deepEqual(prev.labels, ['previous', 'AWSPREVIOUS']);
    assert.equal(await be.retireVersion?.(name, prev.id), true);
    const after = await be.versions?.(name);
    assert.deepEqual(
      after?.map((v) => v.labels),
      [['current', 'AWSCURRENT'], []],
    );
    await be.delete(name);
    await be.close?.();
  });

  it('uses the fewest calls: one to list, one to read a version, one to retire', async () => {
    const be = backend();
    const name = fresh();
    await be.create(name, { schema: 'arbitrary', values: { a: '1' } });
    await be.update(name, { schema: 'arbitrary', values: { a: '2' } });
    const listed = (await be.versions?.(name)) ?? [];
    assert.deepEqual(await counted(() => be.versions!(name)), ['ListSecretVersionIds']);
    assert.deepEqual(await counted(() => be.getVersion!(name, listed[1]?.id ?? '')), ['GetSecretValue']);
    assert.deepEqual(await counted(() => be.getVersion!(name, 'previous')), ['GetSecretValue']);
    assert.deepEqual(await counted(() => be.retireVersion!(name, listed[1]?.id ?? '')), ['UpdateSecretVersionStage']);
    assert.deepEqual(await counted(() => be.getVersion!(name, '3')), [], 'no VersionId is that short');
    await be.delete(name);
    await be.close?.();
  });

  it('refuses to retire the current version, and an unlabelled version is already retired', async () => {
    const be = backend();
    const name = fresh();
    await be.create(name, { schema: 'arbitrary', values: { a: '1' } });
    for (const a of ['2', '3']) await be.update(name, { schema: 'arbitrary', values: { a } });
    const [cur, , oldest] = (await be.versions?.(name)) ?? [];
    assert.ok(cur && oldest);
    assert.deepEqual(oldest.labels, []);
    await assert.rejects(be.retireVersion!(name, cur.id), (e: { code?: string; message?: string }) => {
      assert.equal(e.code, 'unsupported');
      assert.match(e.message ?? '', /current version \(AWSCURRENT\)/);
      return true;
    });
    assert.equal(await be.retireVersion!(name, oldest.id), true);
    await be.delete(name);
    await be.close?.();
  });
});
