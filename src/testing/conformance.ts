/**
 * The conformance suite every flavor must pass, built-in or custom (DESIGN §10). It registers its
 * tests through an injected runner (vitest, node:test, …) and asserts with node:assert, so a
 * flavor's author can run it with any test framework:
 *
 *   import { describe, it, beforeAll, afterAll } from 'vitest';
 *   import { testFlavor } from 'keystack/testing';
 *   testFlavor({ flavor: myFlavor, config: { url }, runner: { describe, it, beforeAll, afterAll } });
 *
 * Every name it creates is random, and it deletes only what it created, so it is safe to point at
 * a shared server.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeystackError } from '../secrets/errors.js';
import { createSchemaRegistry } from '../secrets/schema.js';
import { encodeContent } from '../secrets/content.js';
import type { Scope } from '../secrets/scope.js';
import { SecretsManager } from '../flavors/manager.js';
import type { FlavorDefinition } from '../flavors/types.js';
import { testConcurrency } from './concurrency.js';

export interface TestRunner {
  describe(name: string, fn: () => void): unknown;
  it(name: string, fn: () => Promise<void> | void): unknown;
  beforeAll?(fn: () => Promise<void> | void): unknown;
  afterAll(fn: () => Promise<void> | void): unknown;
}

export interface ConformanceOptions {
  flavor: FlavorDefinition<unknown>;
  /** The flavor's own config fields (not scope settings). */
  config: Record<string, unknown>;
  runner: TestRunner;
  /** Environment given to the flavor. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** Config dir for flavors that keep files there. @default a fresh temp dir */
  configDir?: string;
  /** Scope prefix used for scoped managers. @default `keystack` */
  scopePrefix?: string;
  /**
   * Whether values can be read back with get (false for write-only backends such as GitHub
   * outside Actions). When false, the suite checks existence through list instead.
   * @default flavor.capabilities.readValues
   */
  readValues?: boolean;
  /** Extra tests with access to the suite's helpers. */
  additionalTests?: (h: ConformanceHelpers) => void;
}

export interface ConformanceHelpers {
  /** A manager of the flavor under test with the given scope settings (fresh UUID unless given). */
  manager(s?: ManagerSettings): SecretsManager;
  /** A random secret name valid for every built-in flavor. */
  name(): string;
  /** Deletes `name` from `manager` after the suite. */
  cleanup(manager: SecretsManager, name: string): void;
}

export interface ManagerSettings {
  scope?: Scope;
  namespace?: string;
  uuid?: string;
  name?: string;
}

export function testFlavor(o: ConformanceOptions): void {
  const { runner: t, flavor } = o;
  const env = o.env ?? process.env;
  const configDir = o.configDir ?? mkdtempSync(join(tmpdir(), 'keystack-conformance-'));
  const prefix = o.scopePrefix ?? 'keystack';
  const readable = o.readValues ?? flavor.capabilities.readValues;
  const run = randomBytes(3).toString('hex');
  let counter = 0;
  const created: { manager: SecretsManager; name: string }[] = [];
  const managers: SecretsManager[] = [];
  const schemas = createSchemaRegistry();

  const h: ConformanceHelpers = {
    manager(s = {}) {
      const uuid = s.uuid ?? randomUUID();
      const config: Record<string, unknown> = { ...o.config, scope: s.scope ?? (flavor.supportsScoping ? 'component' : 'none'), scope_prefix: prefix };
      if (s.namespace !== undefined) config['namespace'] = s.namespace;
      const m = new SecretsManager({
        record: { uuid, name: s.name ?? `conformance-${run}`, flavor: flavor.name, config },
        flavor,
        configDir,
        env,
        schemas,
      });
      managers.push(m);
      return m;
    },
    name: () => `ks${run}${(counter++).toString(36)}${randomBytes(2).toString('hex')}`,
    cleanup: (manager, name) => void created.push({ manager, name }),
  };
  const secretValue = () => randomBytes(24).toString('base64url');
  /** Registers a secret that is deleted after the suite. */
  const put = async (m: SecretsManager, name: string, values: Record<string, string>, schema?: string) => {
    h.cleanup(m, name);
    return m.register(name, values, schema === undefined ? {} : { schema });
  };
  /** Reads values, or (write-only flavors) checks existence and returns null. */
  const read = async (m: SecretsManager, name: string) => {
    if (readable) return (await m.get(name)).values;
    assert.ok((await m.list()).includes(name), `${name} should be listed`);
    return null;
  };
  const expectCode = async (p: Promise<unknown>, code: string, secrets: string[] = []) => {
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof KeystackError, `expected a KeystackError with code ${code}, got ${String(e)}`);
      assert.equal(e.code, code, `expected code ${code}, got ${e.code}: ${e.message}`);
      assertNoLeak(e, secrets);
      return true;
    });
  };

  t.describe(`conformance: ${flavor.name}`, () => {
    t.afterAll(async () => {
      for (const { manager, name } of created.reverse()) {
        try {
          await manager.delete(name);
        } catch {
          // already deleted by the test itself
        }
      }
      await Promise.all(managers.map((m) => m.close()));
    });

    t.describe('round trips', () => {
      t.it('registers and reads back a secret with its schema', async () => {
        const m = h.manager();
        const name = h.name();
        const values = { user: 'admin', password: secretValue() };
        const s = await put(m, name, values);
        assert.deepEqual(s.values, values);
        const got = await read(m, name);
        if (got) assert.deepEqual(got, values);
        if (readable) assert.equal((await m.get(name)).schema, 'arbitrary');
      });

      t.it('keeps typed schemas and converts values back to their types', async () => {
        if (!readable) return;
        const m = h.manager();
        const name = h.name();
        await put(m, name, { user: 'u', ssl_verify_server_cert: 'true' }, 'mysql');
        const mysql = await m.schema('mysql');
        const typed = await m.get(name, mysql);
        assert.equal(typed.schema, 'mysql');
        assert.deepEqual(typed.data, { user: 'u', ssl_verify_server_cert: true });
      });

      t.it('stores typed values with their JSON types and keeps them on update', async () => {
        if (!readable) return;
        const m = h.manager();
        const name = h.name();
        await put(m, name, { user: 'u', ssl_verify_server_cert: 'true' }, 'mysql');
        assert.deepEqual((await m.get(name)).types, { ssl_verify_server_cert: 'boolean' });
        await m.patch(name, { set: { user: 'v' } });
        const after = await m.get(name);
        assert.deepEqual(after.values, { user: 'v', ssl_verify_server_cert: 'true' });
        assert.deepEqual(after.types, { ssl_verify_server_cert: 'boolean' });
      });

      t.it('fills schema defaults when registering', async () => {
        const m = h.manager();
        const name = h.name();
        const s = await put(m, name, { user: 'u' }, 'mysql');
        assert.equal(s.values['ssl_verify_server_cert'], 'false');
      });

      t.it('lists the names of its scope, sorted', async () => {
        const m = h.manager();
        const names = [h.name(), h.name(), h.name()].sort().reverse();
        for (const n of names) await put(m, n, { k: 'v' });
        const listed = await m.list();
        for (const n of names) assert.ok(listed.includes(n), `${n} missing from list`);
        assert.deepEqual(listed, [...listed].sort());
      });

      t.it('lists more than one page of names', async () => {
        const m = h.manager({ scope: flavor.supportsScoping ? 'component' : 'none' });
        // A backend that holds fewer secrets (GitHub: 100 per repository) gets half its limit,
        // leaving room for the other tests' secrets, which are deleted only after the suite.
        const cap = flavor.capabilities.maxSecrets;
        const names = Array.from({ length: cap === undefined ? 105 : Math.min(105, Math.floor(cap / 2)) }, () => h.name());
        for (let i = 0; i < names.length; i += 15) await Promise.all(names.slice(i, i + 15).map((n) => put(m, n, { k: 'v' })));
        const listed = new Set(await m.list());
        assert.equal(names.filter((n) => !listed.has(n)).length, 0);
      });
    });

    t.describe('absence and conflicts', () => {
      t.it('get of a missing secret is SecretNotFoundError', async () => {
        if (!readable) return;
        await expectCode(h.manager().get(h.name()), 'secret_not_found');
      });

      t.it('register of an existing name is SecretExistsError and keeps the old values', async () => {
        const m = h.manager();
        const name = h.name();
        const first = { a: secretValue() };
        await put(m, name, first);
        const second = secretValue();
        await expectCode(m.register(name, { a: second }), 'secret_exists', [second]);
        const got = await read(m, name);
        if (got) assert.deepEqual(got, first);
      });

      t.it('update of a missing secret is SecretNotFoundError', async () => {
        await expectCode(h.manager().update(h.name(), { a: 'b' }, { schema: 'arbitrary' }), 'secret_not_found');
      });

      t.it('delete of a missing secret is SecretNotFoundError', async () => {
        await expectCode(h.manager().delete(h.name()), 'secret_not_found');
      });
    });

    t.describe('update and delete', () => {
      t.it('update replaces the whole content', async () => {
        const m = h.manager();
        const name = h.name();
        await put(m, name, { a: '1', b: '2' });
        await m.update(name, { b: '3', c: '4' }, { schema: 'arbitrary' });
        const got = await read(m, name);
        if (got) assert.deepEqual(got, { b: '3', c: '4' });
      });

      t.it('patch merges and removes keys', async () => {
        if (!readable) return;
        const m = h.manager();
        const name = h.name();
        await put(m, name, { a: '1', b: '2' });
        await m.patch(name, { set: { b: '3', c: '4' }, remove: ['a'] });
        assert.deepEqual((await m.get(name)).values, { b: '3', c: '4' });
      });

      t.it('delete removes the secret, and the name can be registered again', async () => {
        const m = h.manager();
        const name = h.name();
        await put(m, name, { a: '1' });
        await m.delete(name);
        assert.ok(!(await m.list()).includes(name));
        if (readable) await expectCode(m.get(name), 'secret_not_found');
        await m.register(name, { a: '2' });
        const got = await read(m, name);
        if (got) assert.deepEqual(got, { a: '2' });
      });

      t.it('deleteAll empties its own scope and reports how many it deleted', async () => {
        const m = h.manager();
        const other = h.manager();
        const keep = h.name();
        await put(other, keep, { k: 'v' });
        for (const n of [h.name(), h.name()]) await put(m, n, { k: 'v' });
        if (flavor.supportsScoping) {
          assert.equal(await m.deleteAll(), 2);
          assert.deepEqual(await m.list(), []);
          assert.ok((await other.list()).includes(keep), 'deleteAll touched another scope');
        }
      });
    });

    t.describe('values', () => {
      const cases: [string, string][] = [
        ['an empty string', ''],
        ['unicode', 'päss wörd ✓ 鍵 🔑'],
        ['a multi-line PEM with a trailing newline', `-----BEGIN PRIVATE KEY-----\n${randomBytes(300).toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`],
        ['JSON text', JSON.stringify({ type: 'service_account', private_key: 'x\ny', n: 1 })],
        ['quotes and backslashes', `a"b'c\\d\`e$f`],
      ];
      for (const [label, value] of cases) {
        t.it(`round-trips ${label}`, async () => {
          const m = h.manager();
          const name = h.name();
          await put(m, name, { v: value });
          const got = await read(m, name);
          if (got) assert.equal(got['v'], value);
        });
      }

      t.it('accepts a secret just under the size limit and refuses one over it', async () => {
        const m = h.manager();
        const name = h.name();
        const overhead = Buffer.byteLength(encodeContent({ schema: 'arbitrary', values: { v: '' } }, prefix));
        const fits = 'x'.repeat(flavor.maxContentBytes - overhead);
        await put(m, name, { v: fits });
        const got = await read(m, name);
        if (got) assert.equal(got['v']?.length, fits.length);
        const big = h.name();
        await expectCode(m.register(big, { v: `${fits}y` }), 'too_large', [fits]);
        assert.ok(!(await m.list()).includes(big));
      });
    });

    t.describe('names and keys', () => {
      const { nameRule } = flavor;
      const bad = ['', 'has space', ...(nameRule.dots ? [] : ['has.dot']), 'has/slash', 'tab\tname', 'nl\nname', 'x'.repeat(nameRule.maxLength + 1)];
      for (const name of bad) {
        t.it(`rejects the secret name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}…(${name.length})` : name)}`, async () => {
          const m = h.manager();
          await expectCode(m.register(name, { a: 'b' }), 'invalid_name');
          if (readable) await expectCode(m.get(name), 'invalid_name');
          await expectCode(m.delete(name), 'invalid_name');
        });
      }

      if (nameRule.dots) {
        t.it("accepts a name with '.', as the backend does: register, list, get, update, delete", async () => {
          const m = h.manager();
          const name = `${h.name()}.v1.2`;
          await put(m, name, { a: 'b' });
          assert.ok((await m.list()).includes(name), `${name} should be listed`);
          if (readable) assert.deepEqual((await m.get(name)).values, { a: 'b' });
          await m.update(name, { a: 'c' });
          if (readable) assert.deepEqual((await m.get(name)).values, { a: 'c' });
          await m.delete(name);
          assert.ok(!(await m.list()).includes(name));
        });
      }

      t.it('rejects reserved keys', async () => {
        const m = h.manager();
        for (const key of ['name', `${prefix}_schema_name`]) await expectCode(m.register(h.name(), { [key]: 'x' }), 'invalid_name');
      });

      t.it('rejects keys a typed schema does not declare, naming the key but not the value', async () => {
        const m = h.manager();
        const value = secretValue();
        await expectCode(m.register(h.name(), { username: 'u', password: 'p', extra: value }, { schema: 'basic_auth' }), 'schema_validation', [value]);
      });
    });

    if (flavor.supportsScoping) scopeMatrix(t, h, put, read, expectCode, readable);

    t.describe('no value in any error', () => {
      t.it('errors from a failing register carry no value in message, hint or cause', async () => {
        const m = h.manager();
        const name = h.name();
        const value = secretValue();
        await put(m, name, { a: value });
        await expectCode(m.register(name, { a: value }), 'secret_exists', [value]);
        await expectCode(m.register(h.name(), { username: value }, { schema: 'basic_auth' }), 'schema_validation', [value]);
      });
    });

    o.additionalTests?.(h);
    testConcurrency(t, h, { readable });
  });
}

/** ZenML's scope test (tests/integration/secrets_manager/test_secrets_manager_scope.py), ported. */
function scopeMatrix(
  t: TestRunner,
  h: ConformanceHelpers,
  put: (m: SecretsManager, name: string, v: Record<string, string>) => Promise<unknown>,
  read: (m: SecretsManager, name: string) => Promise<Record<string, string> | null>,
  expectCode: (p: Promise<unknown>, code: string) => Promise<void>,
  readable: boolean,
): void {
  const ns = () => `ns${randomBytes(4).toString('hex')}`;
  const absent = async (m: SecretsManager, name: string) => {
    assert.ok(!(await m.list()).includes(name), `${name} leaked into ${m.where}`);
    if (readable) await expectCode(m.get(name), 'secret_not_found');
  };

  t.describe('scopes', () => {
    t.it('defaults to component scope', () => {
      assert.equal(h.manager({}).scope.scope, 'component');
    });

    t.it('one name registered in all four scopes without conflict, each reading its own values', async () => {
      const name = h.name();
      const managers = [h.manager({ scope: 'none' }), h.manager({ scope: 'global' }), h.manager({ scope: 'component' }), h.manager({ scope: 'namespace', namespace: ns() })];
      const values = managers.map((_, i) => ({ key: `value-${i}-${randomBytes(8).toString('hex')}` }));
      for (const [i, m] of managers.entries()) await put(m, name, values[i]!);
      for (const [i, m] of managers.entries()) {
        const got = await read(m, name);
        if (got) assert.deepEqual(got, values[i]);
      }
      assert.deepEqual(await managers[2]!.list(), [name]);
      assert.deepEqual(await managers[3]!.list(), [name]);
    });

    t.it('a secret of one scope is invisible in every other scope', async () => {
      const managers = [h.manager({ scope: 'none' }), h.manager({ scope: 'global' }), h.manager({ scope: 'component' }), h.manager({ scope: 'namespace', namespace: ns() })];
      const names = managers.map(() => h.name());
      for (const [i, m] of managers.entries()) await put(m, names[i]!, { k: 'v' });
      for (const [i, m] of managers.entries()) {
        for (const [j, n] of names.entries()) if (i !== j) await absent(m, n);
      }
    });

    for (const scope of ['global', 'component', 'namespace'] as const) {
      t.it(`${scope} scope is shared by managers with the same settings`, async () => {
        const settings = { scope, uuid: randomUUID(), ...(scope === 'namespace' ? { namespace: ns() } : {}) };
        const a = h.manager(settings);
        const b = h.manager({ ...settings, ...(scope === 'component' ? {} : { uuid: randomUUID() }) });
        const name = h.name();
        await put(a, name, { k: 'v1' });
        assert.ok((await b.list()).includes(name));
        if (readable) assert.deepEqual((await b.get(name)).values, { k: 'v1' });
        await b.update(name, { k: 'v2' }, { schema: 'arbitrary' });
        if (readable) assert.deepEqual((await a.get(name)).values, { k: 'v2' });
        await a.delete(name);
        await absent(b, name);
      });
    }

    t.it('component scope is isolated between two managers', async () => {
      const a = h.manager({ scope: 'component' });
      const b = h.manager({ scope: 'component' });
      const name = h.name();
      await put(a, name, { k: 'v' });
      await absent(b, name);
      assert.deepEqual(await b.list(), []);
    });

    t.it('namespace scope is shared only within one namespace', async () => {
      const n1 = ns();
      const a = h.manager({ scope: 'namespace', namespace: n1 });
      const b = h.manager({ scope: 'namespace', namespace: n1.split('').reverse().join('') });
      const name = h.name();
      await put(a, name, { k: 'v' });
      await absent(b, name);
      assert.deepEqual(await b.list(), []);
    });

    t.it('none sees only raw names, never scoped ones', async () => {
      const none = h.manager({ scope: 'none' });
      const scoped = [h.manager({ scope: 'global' }), h.manager({ scope: 'component' }), h.manager({ scope: 'namespace', namespace: ns() })];
      const name = h.name();
      for (const m of scoped) await put(m, name, { k: 'v' });
      await absent(none, name);
    });

    t.it('a namespace scope needs a namespace', () => {
      assert.throws(() => h.manager({ scope: 'namespace' }), (e: unknown) => e instanceof KeystackError && e.code === 'config');
    });
  });
}

/** Asserts that none of `secrets` appears in an error's message, hint, JSON form or cause chain. */
export function assertNoLeak(err: unknown, secrets: readonly string[]): void {
  const texts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 10; depth++) {
    if (e instanceof Error) {
      texts.push(e.message, e.stack ?? '', String((e as { hint?: unknown }).hint ?? ''));
      try {
        texts.push(JSON.stringify(e));
      } catch {
        // circular: message and stack are enough
      }
      e = (e as { cause?: unknown }).cause;
    } else {
      texts.push(String(e));
      break;
    }
  }
  for (const s of secrets) {
    if (s.length < 4) continue;
    for (const t of texts) assert.ok(!t.includes(s), `a secret value leaked into an error: ${t.slice(0, 200)}`);
  }
}
