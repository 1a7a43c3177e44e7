import { afterAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import github, { githubNaming, SECRETS_JSON_ENV } from '../../src/flavors/github.js';
import { SecretsManager } from '../../src/core/manager.js';
import { inject, resolveEnv, resolveReferences } from '../../src/process/env.js';
import { encodeContent } from '../../src/secrets/content.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';
import { proxyFaults, testFlavor } from '../../src/testing/index.js';
import { vitestRunner } from '../support/runner.js';
import { cliAsync, tempEnv } from '../support/cli.js';
import { startGitHubDouble } from '../support/github-double.js';

// GitHub's real limit of 100 secrets per repository; the suite adapts through capabilities.maxSecrets.
const gh = await startGitHubDouble({ repos: ['octo/keystack-conformance', 'octo/full', 'octo/cli-repo'] });
const config = { owner: 'octo', repository: 'keystack-conformance', api_url: gh.url };
const env = { GITHUB_TOKEN: gh.token };
afterAll(() => gh.close());

testFlavor({
  flavor: github,
  config,
  env,
  readValues: false,
  runner: vitestRunner,
  faults: proxyFaults({ target: gh.url, config: (url) => ({ ...config, api_url: url }) }),
});

const manager = (o: { repo?: string; scope?: string; env?: Record<string, string> } = {}) =>
  new SecretsManager({
    record: {
      uuid: randomUUID(),
      name: 'gh',
      flavor: 'github',
      config: { ...config, repository: o.repo ?? config.repository, scope: o.scope ?? 'component' },
    },
    flavor: github,
    configDir: '/nonexistent',
    env: o.env ?? env,
    schemas: createSchemaRegistry(),
  });

describe('github flavor', () => {
  it("seals exactly keystack's JSON payload with the repository key", async () => {
    const m = manager();
    await m.register('db', { user: 'admin', password: 'p@ss wörd' }, { schema: 'arbitrary' });
    const full = githubNaming(m.scope).full('db');
    expect(full).toBe(`KEYSTACK__COMPONENT__${m.uuid.replace(/-/g, '_').toUpperCase()}__DB`);
    expect(gh.plaintext('octo', config.repository, full)).toBe(
      encodeContent({ schema: 'arbitrary', values: { user: 'admin', password: 'p@ss wörd' } }, 'keystack'),
    );
    await m.update('db', { password: 'new' }, { schema: 'arbitrary' });
    expect(JSON.parse(gh.plaintext('octo', config.repository, full) ?? '{}')).toEqual({
      password: 'new',
      keystack_schema_name: 'arbitrary',
    });
  });

  it("lists a full repository (100 secrets, GitHub's limit) in one request, and refuses the 101st", async () => {
    const m = manager({ repo: 'full', scope: 'none' });
    const names = Array.from({ length: 100 }, (_, i) => `s${i.toString().padStart(3, '0')}`);
    for (let i = 0; i < names.length; i += 25)
      await Promise.all(names.slice(i, i + 25).map((n) => m.register(n, { k: 'v' })));
    await expect(m.register('s100', { k: 'v' })).rejects.toMatchObject({
      code: 'backend',
      message: expect.stringContaining('limit of 100'),
    });
    const before = gh.requests.length;
    expect(await m.list()).toEqual(names);
    expect(gh.requests.slice(before).map((r) => r.path.split('?')[0])).toEqual(['/repos/octo/full/actions/secrets']);
    expect(await m.deleteAll()).toBe(100);
  });

  it('retries the secondary rate limit (403 with Retry-After), then succeeds', async () => {
    const m = manager({ scope: 'global' });
    gh.secondaryLimitNext(2, 0);
    const before = gh.requests.length;
    expect(await m.list()).toEqual([]);
    expect(gh.requests.slice(before).map((r) => r.status)).toEqual([403, 403, 200]);
  });

  it('an unknown repository and a token without the Secrets permission are errors, never "not found" or empty', async () => {
    await expect(manager({ repo: 'no-such-repo' }).list()).rejects.toMatchObject({
      code: 'config',
      message: expect.stringContaining('octo/no-such-repo'),
    });
    const readOnly = `ghp_ro_${randomUUID()}`;
    gh.addToken(readOnly, 'read');
    await expect(manager({ env: { GITHUB_TOKEN: readOnly } }).register('x', { k: 'v' })).rejects.toMatchObject({
      code: 'backend',
      message: expect.stringContaining('403'),
    });
  });

  it('refetches the public key once after GitHub rotates it', async () => {
    const m = manager();
    await m.register('first', { k: 'v' });
    gh.rotateKey();
    await m.register('second', { k: 'v' });
    expect(gh.plaintext('octo', config.repository, githubNaming(m.scope).full('second'))).toContain('"k":"v"');
    await m.deleteAll();
  });

  it('get outside GitHub Actions is an UnsupportedOperationError that says how to read it', async () => {
    const m = manager();
    await m.register('cred', { k: 'v' });
    await expect(m.get('cred')).rejects.toMatchObject({
      code: 'unsupported',
      hint: expect.stringContaining('${{ secrets.KEYSTACK__COMPONENT__'),
    });
    await m.delete('cred');
  });

  it('get inside GitHub Actions decodes the injected variable; a missing one is SecretNotFoundError', async () => {
    const writer = manager({ scope: 'global' });
    await writer.register('api', { token: 't0k' }, { schema: 'arbitrary' });
    const full = githubNaming(writer.scope).full('api');
    const injected = gh.plaintext('octo', config.repository, full) ?? '';
    const inActions = manager({ scope: 'global', env: { GITHUB_ACTIONS: 'true', [full]: injected } });
    expect((await inActions.get('api')).values).toEqual({ token: 't0k' });
    const viaJson = manager({
      scope: 'global',
      env: { GITHUB_ACTIONS: 'true', [SECRETS_JSON_ENV]: JSON.stringify({ [full]: injected }) },
    });
    expect((await viaJson.get('api')).values).toEqual({ token: 't0k' });
    await expect(inActions.get('other')).rejects.toMatchObject({ code: 'secret_not_found' });
    await writer.delete('api');
  });

  it('a version pin ({{name@V.key}}, -s name@V) is unsupported, naming the flavor; the unpinned read works and records no version', async () => {
    const writer = manager({ scope: 'global' });
    await writer.register('pinned', { token: 't0k' }, { schema: 'arbitrary' });
    const full = githubNaming(writer.scope).full('pinned');
    const m = manager({
      scope: 'global',
      env: { GITHUB_ACTIONS: 'true', [full]: gh.plaintext('octo', config.repository, full) ?? '' },
    });
    const unsupported = {
      code: 'unsupported',
      message: expect.stringMatching(/^the github flavor cannot read an older version: it keeps no versions/),
    };
    await expect(resolveReferences(m, [{ name: 'pinned@2', key: 'token' }])).rejects.toMatchObject(unsupported);
    await expect(inject(m, 'x={{pinned@previous.token}}')).rejects.toMatchObject(unsupported);
    await expect(resolveEnv(m, { secrets: [{ name: 'pinned@1' }] })).rejects.toMatchObject(unsupported);
    expect(await m.getVersioned('pinned')).toEqual({
      name: 'pinned',
      schema: 'arbitrary',
      values: { token: 't0k' },
      version: null,
    });
    expect((await inject(m, 'x={{pinned.token}}')).text).toBe('x=t0k');
    await writer.delete('pinned');
  });

  it('refuses names GitHub cannot hold, and names that differ only by case', async () => {
    const m = manager({ scope: 'none' });
    for (const bad of ['Upper', 'has-dash', 'double__underscore', '_lead', 'trail_'])
      await expect(m.register(bad, { k: 'v' })).rejects.toMatchObject({ code: 'invalid_name' });
    for (const bad of ['1abc', 'github_token'])
      await expect(m.register(bad, { k: 'v' })).rejects.toMatchObject({ code: 'invalid_name' });
  });

  it('a missing token or a wrong one is a clear error, never "not found"', async () => {
    await expect(manager({ env: {} }).list()).rejects.toMatchObject({
      code: 'config',
      message: expect.stringContaining('GITHUB_TOKEN'),
    });
    await expect(manager({ env: { GITHUB_TOKEN: 'wrong' } }).delete('x')).rejects.toMatchObject({
      code: 'backend',
      message: expect.stringContaining('401'),
    });
  });

  it('refuses a scope prefix that cannot map into GitHub names', () => {
    const m = new SecretsManager({
      record: {
        uuid: randomUUID(),
        name: 'gh',
        flavor: 'github',
        config: { ...config, scope: 'global', scope_prefix: 'github' },
      },
      flavor: github,
      configDir: '/nonexistent',
      env,
      schemas: createSchemaRegistry(),
    });
    return expect(m.list()).rejects.toMatchObject({ code: 'config', message: expect.stringContaining('scope_prefix') });
  });
});

describe('github through the built CLI, reading inside GitHub Actions', () => {
  // Async spawns: the double serves requests from this process's event loop.
  it('registers through the API, then a child process given the Actions environment reads the values', async () => {
    const e = tempEnv({ GITHUB_TOKEN: gh.token });
    const ok = async (args: string[], extra: Record<string, string> = {}) => {
      const r = await cliAsync(e, args, extra);
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    await ok([
      'secrets-manager',
      'register',
      'gh',
      '--flavor=github',
      '--scope=global',
      '--owner=octo',
      '--repository=cli-repo',
      `--api_url=${gh.url}`,
    ]);
    await ok(['stack', 'register', 'gh-stack', '-x', 'gh', '--set']);
    await ok(['secret', 'register', 'db', '--user=admin', '--password=s3cr3t-value']);
    expect(await ok(['secret', 'list'])).toContain('db');

    const outside = await cliAsync(e, ['secret', 'get', 'db']);
    expect(outside.status).toBe(1);
    expect(outside.stderr).toMatch(/^Error: the github flavor cannot read the values of secret 'db'/);
    expect(outside.stderr).toContain(
      'Hint: Inside a workflow, pass it to the step as `env: { KEYSTACK__GLOBAL__DB: ${{ secrets.KEYSTACK__GLOBAL__DB }} }`',
    );

    // What a workflow step with `env: { KEYSTACK__GLOBAL__DB: ${{ secrets.KEYSTACK__GLOBAL__DB }} }` receives.
    const actions = {
      GITHUB_ACTIONS: 'true',
      KEYSTACK__GLOBAL__DB: gh.plaintext('octo', 'cli-repo', 'KEYSTACK__GLOBAL__DB') ?? '',
    };
    expect(await ok(['secret', 'get', 'db', '--key', 'password'], actions)).toBe('s3cr3t-value');
    expect(JSON.parse(await ok(['--json', 'secret', 'get', 'db'], actions))).toMatchObject({
      name: 'db',
      schema: 'arbitrary',
      values: { user: 'admin', password: 's3cr3t-value' },
    });
    const missing = await cliAsync(e, ['secret', 'get', 'other'], actions);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("secret 'other' does not exist");
    await ok(['secret', 'delete', 'db', '-y']);
    expect(gh.secrets('octo', 'cli-repo').size).toBe(0);
  });
});

describe('the GitHub double keeps to the documented contract', () => {
  it('refuses bad auth, bad names, unsealed values and the 101st secret', async () => {
    const d = await startGitHubDouble({ repos: ['o/r'] });
    try {
      const api = (path: string, init: RequestInit = {}, token = d.token) =>
        fetch(`${d.url}/repos/o/r/actions/secrets${path}`, {
          ...init,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        });
      expect((await api('', {}, 'nope')).status).toBe(401);
      const { key_id } = (await (await api('/public-key')).json()) as { key_id: string };
      const putRaw = (name: string, encrypted_value: string) =>
        api(`/${name}`, { method: 'PUT', body: JSON.stringify({ encrypted_value, key_id }) });
      expect((await putRaw('PLAIN', Buffer.from('not sealed').toString('base64'))).status).toBe(422);
      const limited = new SecretsManager({
        record: {
          uuid: randomUUID(),
          name: 'gh',
          flavor: 'github',
          config: { owner: 'o', repository: 'r', api_url: d.url, scope: 'none' },
        },
        flavor: github,
        configDir: '/nonexistent',
        env: { GITHUB_TOKEN: d.token },
        schemas: createSchemaRegistry(),
      });
      for (let i = 0; i < 100; i += 20)
        await Promise.all(Array.from({ length: 20 }, (_, j) => limited.register(`s${i + j}`, { k: 'v' })));
      await expect(limited.register('s100', { k: 'v' })).rejects.toMatchObject({
        code: 'backend',
        message: expect.stringContaining('limit of 100'),
      });
      expect((await putRaw('GITHUB_X', 'AAAA')).status).toBe(422);
      expect((await putRaw('1ABC', 'AAAA')).status).toBe(422);
      expect((await api('/s5')).status).toBe(200);
      expect((await api('/S5', { method: 'DELETE' })).status).toBe(204);
      expect((await api('/s5', { method: 'DELETE' })).status).toBe(404);
    } finally {
      await d.close();
    }
  });

  it('measures the 48 KB limit on the sealed value, 404s unknown repositories, enforces token permissions and rate limits', async () => {
    const d = await startGitHubDouble({ repos: ['o/r'], rateLimit: 50 });
    try {
      const call = (path: string, init: RequestInit = {}, token = d.token) =>
        fetch(`${d.url}${path}`, {
          ...init,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        });
      const sodium = (await import('libsodium-wrappers')).default;
      await sodium.ready;
      const { key_id, key } = (await (await call('/repos/o/r/actions/secrets/public-key')).json()) as {
        key_id: string;
        key: string;
      };
      const seal = (plain: string) =>
        sodium.to_base64(
          sodium.crypto_box_seal(sodium.from_string(plain), sodium.from_base64(key, sodium.base64_variants.ORIGINAL)),
          sodium.base64_variants.ORIGINAL,
        );
      const put = (name: string, plain: string) =>
        call(`/repos/o/r/actions/secrets/${name}`, {
          method: 'PUT',
          body: JSON.stringify({ encrypted_value: seal(plain), key_id }),
        });
      // base64 of (plaintext + 48 bytes of box overhead): 36,816 plaintext bytes seal to exactly 49,152 characters.
      expect(seal('x'.repeat(36_816)).length).toBe(49_152);
      expect((await put('AT_LIMIT', 'x'.repeat(36_816))).status).toBe(201);
      expect((await put('OVER_LIMIT', 'x'.repeat(36_817))).status).toBe(422);

      expect((await call('/repos/o/unknown/actions/secrets')).status).toBe(404);
      expect((await call('/repos/nobody/r/actions/secrets')).status).toBe(404);

      d.addToken('ro', 'read');
      d.addToken('no', 'none');
      expect((await call('/repos/o/r/actions/secrets', {}, 'ro')).status).toBe(200);
      expect((await call('/repos/o/r/actions/secrets/AT_LIMIT', { method: 'DELETE' }, 'ro')).status).toBe(403);
      const denied = await call('/repos/o/r/actions/secrets', {}, 'no');
      expect(denied.status).toBe(403);
      expect(((await denied.json()) as { message: string }).message).toBe(
        'Resource not accessible by personal access token',
      );

      const ok = await call('/repos/o/r/actions/secrets');
      expect(ok.headers.get('x-ratelimit-limit')).toBe('50');
      expect(Number(ok.headers.get('x-ratelimit-remaining'))).toBeLessThan(50);
      expect(ok.headers.get('x-ratelimit-resource')).toBe('core');
      expect(Number(ok.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
      d.exhaustRateLimit(d.token, 60);
      const primary = await call('/repos/o/r/actions/secrets');
      expect(primary.status).toBe(403);
      expect(primary.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(((await primary.json()) as { message: string }).message).toMatch(/^API rate limit exceeded/);
      d.secondaryLimitNext(1, 7);
      const second = await call('/repos/o/r/actions/secrets', {}, 'ro');
      expect(second.status).toBe(403);
      expect(second.headers.get('retry-after')).toBe('7');
      expect(((await second.json()) as { message: string }).message).toMatch(/secondary rate limit/);
      expect((await call('/repos/o/r/actions/secrets', {}, 'ro')).status).toBe(200);
    } finally {
      await d.close();
    }
  });
});
