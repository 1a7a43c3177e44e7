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
/** Run once, after moto answered the next request of this action and before the answer is passed on. */
let after: { action: string; run: () => Promise<unknown> } | null = null;
const proxy = await fakeServer((req, res, body) => {
  const action = String(req.headers['x-amz-target'] ?? '').replace(/^secretsmanager\./, '');
  actions.push(action);
  const headers: IncomingHttpHeaders = { ...req.headers, host: new URL(endpoint).host };
  const out = request(`${endpoint}${req.url ?? '/'}`, { method: req.method, headers }, (r) => {
    const hook = after?.action === action ? after : null;
    if (hook) after = null;
    void (hook?.run() ?? Promise.resolve()).finally(() => {
      res.writeHead(r.statusCode ?? 500, r.headers);
      r.pipe(res);
    });
  });
  out.end(body);
});
afterAll(() => proxy.close());

const backend = (scopeName: 'none' | 'global' = 'global', endpointUrl = proxy.url): SecretsBackend => {
  const scope = { scope: scopeName, componentUuid: randomUUID(), componentName: 'v', prefix: 'keystack' } as const;
  return aws.create({
    config: {
      region_name: 'us-east-1',
      endpoint_url: endpointUrl,
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
  it('lists and reads versions, refuses to retire one; the compare-and-set token is the VersionId', async () => {
    const be = backend();
    await assertBackendVersions(be, { name: fresh(), unknownId: randomUUID(), retires: false });
    await be.close?.();
  });

  it('labels with the stages as AWS names them', async () => {
    const be = backend('none');
    const name = fresh();
    await be.create(name, { schema: 'arbitrary', values: { a: '1' } });
    await be.update(name, { schema: 'arbitrary', values: { a: '2' } });
    const [cur, prev] = (await be.versions?.(name)) ?? [];
    assert.ok(cur && prev);
    assert.deepEqual(cur.labels, ['current', 'AWSCURRENT']);
    assert.deepEqual(prev.labels, ['previous', 'AWSPREVIOUS']);
    await be.update(name, { schema: 'arbitrary', values: { a: '3' } });
    assert.deepEqual(
      (await be.versions?.(name))?.map((v) => v.labels),
      [['current', 'AWSCURRENT'], ['previous', 'AWSPREVIOUS'], []],
    );
    await be.delete(name);
    await be.close?.();
  });

  it('uses the fewest calls: one to list, one to read a version, none to refuse a retire', async () => {
    const be = backend();
    const name = fresh();
    await be.create(name, { schema: 'arbitrary', values: { a: '1' } });
    await be.update(name, { schema: 'arbitrary', values: { a: '2' } });
    const listed = (await be.versions?.(name)) ?? [];
    assert.deepEqual(await counted(() => be.versions!(name)), ['ListSecretVersionIds']);
    assert.deepEqual(await counted(() => be.getVersion!(name, listed[1]?.id ?? '')), ['GetSecretValue']);
    assert.deepEqual(await counted(() => be.getVersion!(name, 'previous')), ['GetSecretValue']);
    assert.deepEqual(await counted(() => be.retireVersion!(name, listed[1]?.id ?? '').catch(() => undefined)), []);
    assert.deepEqual(await counted(() => be.getVersion!(name, '3')), [], 'no VersionId is that short');
    await be.delete(name);
    await be.close?.();
  });

  it('refuses to retire any version, saying why, and sends nothing', async () => {
    const be = backend();
    const name = fresh();
    await be.create(name, { schema: 'arbitrary', values: { a: '1' } });
    await be.update(name, { schema: 'arbitrary', values: { a: '2' } });
    const [cur, prev] = (await be.versions?.(name)) ?? [];
    assert.ok(cur && prev);
    for (const id of [cur.id, prev.id]) {
      await assert.rejects(be.retireVersion!(name, id), (e: { code?: string; message?: string }) => {
        assert.equal(e.code, 'unsupported');
        assert.match(e.message ?? '', /cannot make one version unreadable/);
        return true;
      });
    }
    assert.deepEqual((await be.getVersion!(name, prev.id))?.secret.values, { a: '1' });
    await be.delete(name);
    await be.close?.();
  });

  it('refuses a compare-and-set that a plain write overtook between its check and its write; the other version stays current', async () => {
    const be = backend();
    const other = backend('global', endpoint);
    const name = fresh();
    const V = (a: string) => ({ schema: 'arbitrary', values: { a } });
    await be.create(name, V('first'));
    const seen = await be.read?.(name);
    assert.ok(seen);
    // A plain update (a random VersionId) lands right after keystack saw `first` still current.
    after = { action: 'DescribeSecret', run: () => other.update(name, V('theirs')) };
    assert.equal(await be.replaceIf?.(name, V('mine'), seen.version), 'conflict');
    assert.equal(after, null, 'the other writer ran');
    assert.deepEqual((await be.get(name))?.values, { a: 'theirs' });
    const listed = (await be.versions?.(name)) ?? [];
    const byLabel = (l: string) => listed.find((v) => v.labels.includes(l))?.id;
    assert.equal(byLabel('previous'), seen.version, 'AWSPREVIOUS is back on the version both writers replaced');
    assert.deepEqual((await be.getVersion?.(name, 'current'))?.secret.values, { a: 'theirs' });
    await be.delete(name);
    await Promise.all([be.close?.(), other.close?.()]);
  });
});
