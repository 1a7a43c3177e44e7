/**
 * Backend answers that used to be misread (issue 9 §4): a proxy in front of Vault, a stub that
 * answers AWS writes with `{}`, endpoints that never answer, GitHub 404s and Retry-After.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import aws from '../../src/flavors/aws.js';
import azure from '../../src/flavors/azure.js';
import gcp from '../../src/flavors/gcp.js';
import github from '../../src/flavors/github.js';
import vault from '../../src/flavors/vault.js';
import { SecretsManager } from '../../src/core/manager.js';
import type { FlavorDefinition } from '../../src/core/types.js';
import { KeystackError } from '../../src/errors.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';
import { fakeServer, requireEnv, silentServer } from '../support/fake-http.js';

const awsEndpoint = requireEnv('AWS_SM_ENDPOINT', 'the moto server (AWS Secrets Manager emulator)');
const baoAddr = requireEnv('BAO_ADDR', 'the OpenBao dev server');
const baoToken = requireEnv('BAO_TOKEN', 'the OpenBao dev server root token');

const managers: SecretsManager[] = [];
const make = (flavor: FlavorDefinition<unknown>, config: Record<string, unknown>, env: Record<string, string>) => {
  const m = new SecretsManager({
    record: { uuid: randomUUID(), name: 't', flavor: flavor.name, config },
    flavor,
    configDir: '/nonexistent',
    env,
    schemas: createSchemaRegistry(),
  });
  managers.push(m);
  return m;
};
const awsManager = (cfg: Record<string, unknown>, env: Record<string, string> = {}) =>
  make(
    aws,
    { region_name: 'us-east-1', endpoint_url: awsEndpoint, ...cfg },
    { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', ...env },
  );
const vaultManager = (cfg: Record<string, unknown>, env: Record<string, string> = {}) =>
  make(vault, { url: baoAddr, ...cfg }, { VAULT_TOKEN: baoToken, ...env });
const githubManager = (url: string, env: Record<string, string> = {}) =>
  make(
    github,
    { owner: 'octo', repository: 'nope', api_url: url, scope: 'none' },
    { GITHUB_TOKEN: 'ghp_test', ...env },
  );
const failure = (p: Promise<unknown>) =>
  p.then(
    () => new Error('no failure'),
    (e: unknown) => e,
  );
const code = (e: unknown) => (e instanceof KeystackError ? e.code : String(e));
const fresh = () => `ks${randomBytes(5).toString('hex')}`;
afterAll(() => Promise.all(managers.map((m) => m.close())));

describe('vault: a server that does not answer like Vault is a BackendError, never "does not exist"', () => {
  const answers: [string, number, string, string][] = [
    ['200 with an HTML page', 200, 'text/html', '<html><body>Sign in to the proxy</body></html>'],
    ['200 with text that is not JSON', 200, 'text/plain', 'ok'],
    ['200 with {}', 200, 'application/json', '{}'],
    ['404 with an empty body', 404, 'text/plain', ''],
  ];
  for (const [what, status, type, body] of answers) {
    it(what, async () => {
      const server = await fakeServer((_req, res) => {
        res.writeHead(status, { 'content-type': type });
        res.end(body);
      });
      try {
        const m = vaultManager({ url: server.url, scope: 'global' });
        for (const op of [() => m.get('x'), () => m.list(), () => m.register('x', { k: 'secretvalue' })]) {
          const err = await failure(op());
          expect(code(err), String(err)).toBe('backend');
          expect((err as Error).message).toMatch(/did not answer like Vault/);
          expect((err as KeystackError).hint).toMatch(/url/);
          expect((err as Error).message).not.toContain('Sign in');
        }
      } finally {
        await server.close();
      }
    });
  }

  it('a url with a wrong path prefix (OpenBao answers {"errors":[]} there too)', async () => {
    const m = vaultManager({ url: `${baoAddr}/wrong`, scope: 'global' });
    for (const op of [() => m.get('x'), () => m.list(), () => m.register('x', { k: 'v' })]) {
      const err = await failure(op());
      expect(code(err), String(err)).toBe('backend');
      expect((err as Error).message).toMatch(/did not answer like Vault/);
    }
    // The right url still reads absence as absence.
    await expect(vaultManager({ scope: 'global' }).get(fresh())).rejects.toMatchObject({ code: 'secret_not_found' });
  });
});

describe('vault: list, get and deleteAll agree on soft-deleted secrets', () => {
  it('a path whose latest version is soft-deleted is neither listed nor counted', async () => {
    const m = vaultManager({ scope: 'namespace', namespace: `ns${randomBytes(3).toString('hex')}` });
    const [live, soft] = [fresh(), fresh()];
    await m.register(live, { k: 'v' });
    await m.register(soft, { k: 'v' });
    const ns = m.scope.namespace ?? '';
    const r = await fetch(`${baoAddr}/v1/secret/data/keystack/namespace/${ns}/${soft}`, {
      method: 'DELETE',
      headers: { 'x-vault-token': baoToken },
    });
    expect(r.status).toBe(204);
    await expect(m.get(soft)).rejects.toMatchObject({ code: 'secret_not_found' });
    expect(await m.list()).toEqual([live]);
    expect(await m.deleteAll()).toBe(1);
    expect(await m.list()).toEqual([]);
  });
});

describe('aws: writes the server did not confirm', () => {
  it('a 200 {} answer to CreateSecret or PutSecretValue is a BackendError, not "Registered"', async () => {
    const server = await fakeServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end('{}');
    });
    try {
      const m = awsManager({ endpoint_url: server.url, scope: 'global' });
      for (const op of [
        () => m.register('x', { k: 'secretvalue' }),
        () => m.update('x', { k: 'secretvalue' }, { schema: 'arbitrary' }),
      ]) {
        const err = await failure(op());
        expect(code(err), String(err)).toBe('backend');
        expect((err as Error).message).toMatch(/did not confirm the write/);
        expect((err as KeystackError).hint).toMatch(/endpoint_url/);
      }
      // Reads of such a server are not "absent" or "no secrets" either.
      for (const op of [() => m.get('x'), () => m.list()]) {
        const err = await failure(op());
        expect(code(err), String(err)).toBe('backend');
        expect((err as Error).message).toMatch(/did not answer like AWS Secrets Manager/);
      }
    } finally {
      await server.close();
    }
  });
});

describe('aws: the schema tag follows the content on update', () => {
  it('an update with another schema re-tags the secret, from a manager that has not read it too', async () => {
    const raw = new SecretsManagerClient({
      endpoint: awsEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    const tag = async (id: string) =>
      Object.fromEntries(
        ((await raw.send(new DescribeSecretCommand({ SecretId: id }))).Tags ?? []).map((t) => [t.Key, t.Value]),
      )['keystack_secret_schema'] as string | undefined;
    try {
      const a = awsManager({ scope: 'global' });
      const name = fresh();
      await a.register(name, { k: 'v' });
      const id = `keystack/global/${name}`;
      expect(await tag(id)).toBe('arbitrary');
      await a.update(name, { username: 'u', password: 'p' }, { schema: 'basic_auth' });
      expect(await tag(id)).toBe('basic_auth');
      await awsManager({ scope: 'global' }).update(name, { k: 'v' }, { schema: 'arbitrary' });
      expect(await tag(id)).toBe('arbitrary');
      expect((await a.get(name)).schema).toBe('arbitrary');
      await a.delete(name);
    } finally {
      raw.destroy();
    }
  });
});

describe('every flavor gives up on an endpoint that accepts connections and never answers', () => {
  const quick = { KEYSTACK_REQUEST_TIMEOUT_MS: '500' };
  const cases: [string, (url: string) => SecretsManager][] = [
    ['aws', (url) => awsManager({ endpoint_url: url }, quick)],
    ['vault', (url) => vaultManager({ url }, quick)],
    ['github', (url) => githubManager(url, quick)],
    ['gcp', (url) => make(gcp, { project_id: 'p', api_endpoint: url.replace('http://', '') }, quick)],
    ['azure', (url) => make(azure, { vault_url: url.replace('http://', 'https://'), access_token: 't' }, quick)],
  ];
  for (const [flavor, build] of cases) {
    it(`${flavor}: a BackendError after the request timeout (KEYSTACK_REQUEST_TIMEOUT_MS)`, async () => {
      const server = await silentServer();
      try {
        const start = Date.now();
        const err = await failure(build(server.url).list());
        expect(code(err), String(err)).toBe('backend');
        expect((err as Error).message).toMatch(/did not answer within 0\.5 s/);
        expect((err as KeystackError).hint).toMatch(/KEYSTACK_REQUEST_TIMEOUT_MS/);
        expect(Date.now() - start).toBeLessThan(5000);
      } finally {
        await server.close();
      }
    }, 15_000);
  }
});

describe('github: a 404 is absence only in a repository the token can see', () => {
  it('delete, update and register in a wrong repository are a ConfigError, not "does not exist"', async () => {
    const server = await fakeServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' }),
      );
    });
    try {
      const m = githubManager(server.url);
      for (const op of [
        () => m.delete('x'),
        () => m.update('x', { k: 'v' }, { schema: 'arbitrary' }),
        () => m.register('x', { k: 'v' }),
      ]) {
        const err = await failure(op());
        expect(code(err), String(err)).toBe('config');
        expect((err as Error).message).toMatch(/octo\/nope was not found, or the token may not see it/);
      }
    } finally {
      await server.close();
    }
  });
});

describe('github: Retry-After is honoured within the retry budget', () => {
  const limited = (after: string, okAfterMs: number) => {
    const start = Date.now();
    return fakeServer((_req, res) => {
      if (Date.now() - start < okAfterMs) {
        res.writeHead(403, { 'content-type': 'application/json', 'retry-after': after });
        res.end(JSON.stringify({ message: 'You have exceeded a secondary rate limit.' }));
      } else {
        // The delete of an existing secret.
        res.writeHead(204);
        res.end();
      }
    });
  };

  it('a wait longer than 5 s is waited for, once (it used to be cut to 5 s and retried early)', async () => {
    const server = await limited('6', 6000);
    try {
      const start = Date.now();
      await githubManager(server.url).delete('x');
      expect(Date.now() - start).toBeGreaterThanOrEqual(5900);
      expect(server.requests).toBe(2);
    } finally {
      await server.close();
    }
  }, 20_000);

  it('a wait beyond the budget fails at once, saying how long GitHub asked to wait', async () => {
    const server = await limited('60', 120_000);
    try {
      const start = Date.now();
      const err = await failure(githubManager(server.url, { KEYSTACK_RETRY_BUDGET_MS: '5000' }).delete('x'));
      expect(code(err), String(err)).toBe('backend');
      expect((err as Error).message).toMatch(
        /GitHub kept rate-limiting the request \(HTTP 403\); it asked to wait 60 s, beyond what is left of the retry budget of 5 s/,
      );
      expect((err as KeystackError).hint).toMatch(/KEYSTACK_RETRY_BUDGET_MS/);
      expect(server.requests).toBe(1);
      expect(Date.now() - start).toBeLessThan(2000);
    } finally {
      await server.close();
    }
  });
});

describe("vault: without detailed-metadata (HashiCorp Vault), list reads each path's metadata", () => {
  it('falls back once, and still leaves out soft-deleted paths', async () => {
    const seen: string[] = [];
    const meta = (deleted: boolean) => ({
      data: {
        current_version: 1,
        versions: { '1': { deletion_time: deleted ? '2026-12-01T00:00:00Z' : '', destroyed: false } },
      },
    });
    const server = await fakeServer((req, res) => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      seen.push(path);
      const answer = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (path.includes('/detailed-metadata/'))
        return answer(404, { errors: ['1 error occurred:\n\t* unsupported path\n\n'] });
      if (path.endsWith('/metadata/keystack/global/'))
        return answer(200, { data: { keys: ['live', 'soft', 'folder/'] } });
      if (path.endsWith('/metadata/keystack/global/live')) return answer(200, meta(false));
      if (path.endsWith('/metadata/keystack/global/soft')) return answer(200, meta(true));
      return answer(404, { errors: [] });
    });
    try {
      const m = vaultManager({ url: server.url, scope: 'global' });
      expect(await m.list()).toEqual(['live']);
      expect(await m.list()).toEqual(['live']);
      expect(seen.filter((p) => p.includes('detailed-metadata'))).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});

describe('github: an exhausted quota waits for x-ratelimit-reset', () => {
  it('a reset beyond the budget fails at once, saying how long', async () => {
    const server = await fakeServer((_req, res) => {
      res.writeHead(403, {
        'content-type': 'application/json',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 120),
      });
      res.end(JSON.stringify({ message: 'API rate limit exceeded' }));
    });
    try {
      const err = await failure(githubManager(server.url, { KEYSTACK_RETRY_BUDGET_MS: '5000' }).list());
      expect(code(err), String(err)).toBe('backend');
      expect((err as Error).message).toMatch(/it asked to wait 1[12]\d(\.\d)? s/);
      expect(server.requests).toBe(1);
    } finally {
      await server.close();
    }
  });
});

describe('through the built CLI', () => {
  it('secret list behind a proxy that answers 200 HTML exits 1 with a hint, instead of "No secrets"', async () => {
    const { cliAsync, tempEnv } = await import('../support/cli.js');
    const server = await fakeServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>proxy login</html>');
    });
    try {
      const e = tempEnv({ VAULT_TOKEN: 'root' });
      expect(
        (await cliAsync(e, ['secrets-manager', 'register', 'v', '--flavor=vault', `--url=${server.url}`])).status,
      ).toBe(0);
      expect((await cliAsync(e, ['stack', 'register', 'vs', '-x', 'v', '--set'])).status).toBe(0);
      const r = await cliAsync(e, ['secret', 'list']);
      expect(r.status).toBe(1);
      expect(r.stdout).not.toMatch(/No secrets/);
      expect(r.stderr).toMatch(/did not answer like Vault/);
      expect(r.stderr).toMatch(/Hint: Check the url/);
      expect(r.stderr).not.toMatch(/proxy login|\n\s+at /);
    } finally {
      await server.close();
    }
  });
});
