/**
 * The Azure Key Vault double keeps to the documented service behaviour: each rule that keystack or
 * ZenML depends on is asserted here over raw REST, so loosening the double fails a test.
 */
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startAkvDouble, type AkvDouble } from './azure-key-vault.js';

let d: AkvDouble;
beforeAll(async () => void (d = await startAkvDouble({ deleteMs: 400, purgeMs: 400 })));
afterAll(async () => d.close());

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: {
    error?: { code?: string; innererror?: { code?: string } };
    value?: unknown;
    nextLink?: string | null;
    attributes?: { enabled?: boolean };
    tags?: Record<string, string>;
  } & Record<string, unknown>;
}
const api = (method: string, path: string, body?: unknown, token: string | null = d.token): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const u = new URL(
      path.startsWith('https:') ? path : `${d.url}${path}${path.includes('?') ? '&' : '?'}api-version=7.4`,
    );
    const r = request(
      u,
      {
        method,
        ca: d.ca,
        headers: {
          'content-type': 'application/json',
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text ? (JSON.parse(text) as Reply['body']) : {},
          }),
        );
      },
    );
    r.on('error', reject);
    r.end(body === undefined ? undefined : JSON.stringify(body));
  });
const inner = (r: Reply) => `${r.status} ${r.body.error?.code ?? ''}/${r.body.error?.innererror?.code ?? ''}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Azure Key Vault double: contract', () => {
  it('accepts only its bearer token, with the challenge the SDK expects', async () => {
    const missing = await api('GET', '/secrets', undefined, null);
    assert.equal(missing.status, 401);
    assert.match(
      String(missing.headers['www-authenticate']),
      /^Bearer authorization="[^"]+", resource="https:\/\/vault\.azure\.net"$/,
    );
    assert.equal((await api('GET', '/secrets', undefined, 'not-the-token')).status, 401);
    assert.equal((await api('GET', '/secrets')).status, 200);
  });

  it('PATCHes version properties (update_secret_properties), and a disabled secret is 403 SecretDisabled', async () => {
    const put = await api('PUT', '/secrets/patched', { value: 'v', tags: { a: '1' } });
    assert.equal(put.status, 200);
    const version = String(put.body['id']).split('/').pop() ?? '';
    // ZenML's update_secret_properties(name, tags=…) sends an empty version: the current one.
    const p1 = await api('PATCH', '/secrets/patched/', { tags: { zenml_scope: 'global' } });
    assert.equal(p1.status, 200);
    assert.deepEqual(p1.body.tags, { zenml_scope: 'global' });
    assert.equal((await api('PATCH', `/secrets/patched/${version}`, { attributes: { enabled: false } })).status, 200);
    assert.equal(inner(await api('GET', '/secrets/patched')), '403 Forbidden/SecretDisabled');
    assert.equal(inner(await api('GET', `/secrets/patched/${version}`)), '403 Forbidden/SecretDisabled');
    assert.equal((await api('PATCH', '/secrets/patched/nosuchversion', { tags: {} })).status, 404);
    assert.equal((await api('PATCH', `/secrets/patched/${version}`, { attributes: { enabled: true } })).status, 200);
    assert.equal((await api('GET', '/secrets/patched')).body['value'], 'v');
  });

  it('limits tags (15 per secret, names ≤ 512 and values ≤ 256 characters) and contentType (255)', async () => {
    const tags = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`t${i}`, 'v']));
    assert.equal((await api('PUT', '/secrets/tags15', { value: 'v', tags: tags(15) })).status, 200);
    assert.equal((await api('PUT', '/secrets/tags16', { value: 'v', tags: tags(16) })).status, 400);
    assert.equal((await api('PATCH', '/secrets/tags15/', { tags: tags(16) })).status, 400);
    assert.equal((await api('PUT', '/secrets/tagname', { value: 'v', tags: { ['n'.repeat(512)]: 'v' } })).status, 200);
    assert.equal((await api('PUT', '/secrets/tagname', { value: 'v', tags: { ['n'.repeat(513)]: 'v' } })).status, 400);
    assert.equal((await api('PUT', '/secrets/tagvalue', { value: 'v', tags: { k: 'v'.repeat(256) } })).status, 200);
    assert.equal((await api('PUT', '/secrets/tagvalue', { value: 'v', tags: { k: 'v'.repeat(257) } })).status, 400);
    assert.equal((await api('PUT', '/secrets/ctype', { value: 'v', contentType: 'c'.repeat(255) })).status, 200);
    assert.equal((await api('PUT', '/secrets/ctype', { value: 'v', contentType: 'c'.repeat(256) })).status, 400);
  });

  it('keeps names to [0-9A-Za-z-]{1,127}, case-insensitively', async () => {
    assert.equal((await api('PUT', `/secrets/${'n'.repeat(127)}`, { value: 'v' })).status, 200);
    assert.equal((await api('PUT', `/secrets/${'n'.repeat(128)}`, { value: 'v' })).status, 400);
    assert.equal((await api('PUT', '/secrets/under_score', { value: 'v' })).status, 400);
    assert.equal((await api('GET', `/secrets/${'N'.repeat(127)}`)).status, 200);
  });

  it('caps pages at 25 with an opaque nextLink, and rejects a made-up skip token', async () => {
    for (let i = 0; i < 30; i++) assert.equal((await api('PUT', `/secrets/page${i}`, { value: 'v' })).status, 200);
    assert.equal((await api('GET', '/secrets?maxresults=26')).status, 400);
    let next: string | null | undefined = `${d.url}/secrets?api-version=7.4`;
    const sizes: number[] = [];
    while (next) {
      const r: Reply = await api('GET', next);
      assert.equal(r.status, 200);
      sizes.push((r.body.value as unknown[]).length);
      next = r.body.nextLink;
    }
    assert.ok(sizes.length >= 2 && sizes.every((n) => n <= 25), sizes.join(','));
    assert.equal((await api('GET', '/secrets?$skiptoken=25')).status, 400);
  });

  it('makes a version of 32 hex digits per set, lists versions without values in pages, and a disabled one is 403', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 27; i++) {
      const r = await api('PUT', '/secrets/versioned', { value: `value-${i}`, tags: { n: String(i) } });
      ids.push(String(r.body['id']).split('/').pop() ?? '');
    }
    assert.ok(ids.every((id) => /^[0-9a-f]{32}$/.test(id)));
    assert.equal(new Set(ids).size, 27);
    assert.equal((await api('GET', '/secrets/versioned/versions?maxresults=26')).status, 400);
    let next: string | null | undefined = `${d.url}/secrets/versioned/versions?api-version=7.4&maxresults=25`;
    const listed: { id: string; attributes: { enabled: boolean; created: number }; tags: Record<string, string> }[] =
      [];
    let pages = 0;
    while (next) {
      const r: Reply = await api('GET', next);
      assert.equal(r.status, 200);
      pages++;
      listed.push(...(r.body.value as typeof listed));
      next = r.body.nextLink;
    }
    assert.equal(pages, 2);
    assert.deepEqual(listed.map((v) => v.id.split('/').pop()).sort(), [...ids].sort());
    assert.doesNotMatch(JSON.stringify(listed), /value-/);
    assert.ok(listed.every((v) => v.attributes.enabled && Number.isInteger(v.attributes.created) && v.tags['n']));
    const old = ids[3] ?? '';
    assert.equal((await api('GET', `/secrets/versioned/${old}`)).body['value'], 'value-3');
    assert.equal((await api('PATCH', `/secrets/versioned/${old}`, { attributes: { enabled: false } })).status, 200);
    assert.equal(inner(await api('GET', `/secrets/versioned/${old}`)), '403 Forbidden/SecretDisabled');
    assert.equal((await api('GET', '/secrets/versioned')).body['value'], 'value-26', 'the newest is current');
    assert.equal(inner(await api('GET', `/secrets/versioned/${'0'.repeat(32)}`)), '404 SecretNotFound/');
    assert.equal(inner(await api('GET', '/secrets/never-set/versions')), '404 SecretNotFound/');
  });

  it('deletes and purges asynchronously, answering 409 with the documented inner error codes meanwhile', async () => {
    assert.equal((await api('PUT', '/secrets/gone', { value: 'v' })).status, 200);
    const del = await api('DELETE', '/secrets/gone');
    assert.equal(del.status, 200);
    assert.match(String(del.body['recoveryId']), /\/deletedsecrets\/gone$/);
    // Deletion in progress.
    assert.equal(inner(await api('PUT', '/secrets/gone', { value: 'v2' })), '409 Conflict/ObjectIsBeingDeleted');
    assert.equal(inner(await api('DELETE', '/deletedsecrets/gone')), '409 Conflict/ObjectIsBeingDeleted');
    assert.equal((await api('GET', '/deletedsecrets/gone')).status, 404);
    assert.equal((await api('GET', '/secrets/gone')).status, 404);
    await sleep(450);
    // Deleted, recoverable, not purged.
    assert.equal((await api('GET', '/deletedsecrets/gone')).status, 200);
    assert.equal(
      inner(await api('PUT', '/secrets/gone', { value: 'v2' })),
      '409 Conflict/ObjectIsDeletedButRecoverable',
    );
    assert.equal((await api('DELETE', '/deletedsecrets/gone')).status, 204);
    // Purge in progress.
    assert.equal(inner(await api('PUT', '/secrets/gone', { value: 'v2' })), '409 Conflict/ObjectIsBeingDeleted');
    await sleep(450);
    assert.equal((await api('PUT', '/secrets/gone', { value: 'v2' })).status, 200);
  });

  it('throttles on demand with 429 and a non-zero Retry-After', async () => {
    d.failNext(429, 1, /^GET \/secrets$/);
    const r = await api('GET', '/secrets');
    assert.equal(r.status, 429);
    assert.ok(Number(r.headers['retry-after']) > 0);
    assert.equal(r.body.error?.code, 'Throttled');
  });
});
