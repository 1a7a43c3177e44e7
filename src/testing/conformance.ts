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
import { isKeystackError } from '../errors.js';
import { createSchemaRegistry } from '../secrets/schema.js';
import { encodeContent } from '../secrets/content.js';
import { fullMatch } from '../secrets/names.js';
import type { Scope } from '../secrets/scope.js';
import { SecretsManager } from '../core/manager.js';
import type { FlavorDefinition, SecretsBackend } from '../core/types.js';
import { testConcurrency } from './concurrency.js';
import { testVersions } from './versions.js';
import { assertNoLeak, faultTests, randomSecretValue, type FaultInjection } from './faults.js';

export { assertNoLeak };

type TestFn = () => Promise<void> | void;

export interface TestRunner {
  describe(name: string, fn: () => void): unknown;
  /** Registers a test. If it has a `skip` method (vitest, jest, mocha, node:test), that is the fallback for `skip` below. */
  it: ((name: string, fn: TestFn) => unknown) & { skip?: (name: string, fn?: TestFn) => unknown };
  /**
   * Registers a test that the runner reports as skipped, with the reason; the suite calls it for
   * groups a flavor cannot run (write-only values, no scoping, no fault injection). With vitest:
   * `skip(name, reason) { it(name, (ctx) => { ctx.skip(reason); }); }`. Without it, the suite uses
   * `it.skip` with the reason in the test's name.
   */
  skip?(name: string, reason: string): unknown;
  beforeAll?(fn: TestFn): unknown;
  afterAll(fn: TestFn): unknown;
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
  /**
   * How to point a manager at a failing server, for the "failures are never absence" group.
   * HTTP backends: `proxyFaults({ target, config: (url) => ({ ...config, endpoint: url }) })`.
   * `{ skip: reason }` when the backend has no server that could fail (a local file); without
   * either, that group is reported as skipped with a reason that says the option is missing.
   */
  faults?: FaultInjection | { skip: string };
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

/** What the suite's groups share (internal: the groups in other files of src/testing use it). */
export interface SuiteContext {
  t: TestRunner;
  h: ConformanceHelpers;
  flavor: FlavorDefinition<unknown>;
  readable: boolean;
  // Function-valued fields, not methods: the groups destructure them.
  /** Registers a test reported as skipped, with its reason. */
  skip: (name: string, reason: string) => void;
  /** Registers a secret that is deleted after the suite. */
  put: (m: SecretsManager, name: string, values: Record<string, string>, schema?: string) => Promise<unknown>;
  /** Reads values, or (write-only flavors) checks existence through list and returns null. */
  read: (m: SecretsManager, name: string) => Promise<Record<string, string> | null>;
  expectCode: (p: Promise<unknown>, code: string, secrets?: string[]) => Promise<void>;
  secretValue: () => string;
  /** A manager like `h.manager`, but with other flavor config fields (and env) than the suite's. */
  makeManager: (
    s: ManagerSettings,
    config: Record<string, unknown>,
    env?: Readonly<Record<string, string | undefined>>,
  ) => SecretsManager;
  /** A default-scope manager whose backend counts the calls it receives. */
  countingManager: () => { m: SecretsManager; calls: () => number };
  /** A manager (settings `s`) whose backend is the flavor's, as `wrap` changes it. */
  wrappedManager: (s: ManagerSettings, wrap: (be: SecretsBackend) => SecretsBackend) => SecretsManager;
}

export interface ManagerSettings {
  /** Left out of the config when absent, so the manager gets the flavor's default scope. */
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

  const makeManager = (s: ManagerSettings, flavorConfig: Record<string, unknown>, managerEnv = env, def = flavor) => {
    const config: Record<string, unknown> = { ...flavorConfig, scope_prefix: prefix };
    if (s.scope !== undefined) config['scope'] = s.scope;
    if (s.namespace !== undefined) config['namespace'] = s.namespace;
    const m = new SecretsManager({
      record: { uuid: s.uuid ?? randomUUID(), name: s.name ?? `conformance-${run}`, flavor: flavor.name, config },
      flavor: def,
      configDir,
      env: managerEnv,
      schemas,
    });
    managers.push(m);
    return m;
  };
  const h: ConformanceHelpers = {
    manager: (s = {}) => makeManager(s, o.config),
    name: () => `ks${run}${(counter++).toString(36)}${randomBytes(2).toString('hex')}`,
    cleanup: (manager, name) => void created.push({ manager, name }),
  };
  const secretValue = randomSecretValue;
  const skip = (name: string, reason: string) => {
    if (t.skip) t.skip(name, reason);
    else if (t.it.skip) t.it.skip(`${name} (skipped: ${reason})`, () => undefined);
    else
      throw new Error(
        `testFlavor: the runner has no way to skip "${name}" (${reason}); pass runner.skip(name, reason)`,
      );
  };
  const unreadable = 'the flavor cannot read values back here (capabilities.readValues is false)';
  /** A test that needs to read values: skipped, with the reason, on write-only flavors. */
  const itReads = (name: string, fn: TestFn): void => {
    if (readable) t.it(name, fn);
    else skip(name, unreadable);
  };
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
      // The brand, not instanceof: a custom flavor's errors come from its own copy of keystack.
      assert.ok(isKeystackError(e), `expected a KeystackError with code ${code}, got ${String(e)}`);
      assert.equal(e.code, code, `expected code ${code}, got ${e.code}: ${e.message}`);
      assertNoLeak(e, secrets);
      return true;
    });
  };

  /** A manager whose backend counts the calls it gets, to prove that a check came before any. */
  const countingManager = () => {
    const counter = { calls: 0 };
    const counted: FlavorDefinition<unknown> = { ...flavor, create: (c) => countCalls(flavor.create(c), counter) };
    return { m: makeManager({}, o.config, env, counted), calls: () => counter.calls };
  };

  const ctx: SuiteContext = {
    t,
    h,
    flavor,
    readable,
    skip,
    put,
    read,
    expectCode,
    secretValue,
    makeManager: (s, config, managerEnv) => makeManager(s, config, managerEnv),
    countingManager: () => countingManager(),
    wrappedManager: (s, wrap) => makeManager(s, o.config, env, { ...flavor, create: (c) => wrap(flavor.create(c)) }),
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

      itReads('keeps typed schemas and converts values back to their types', async () => {
        const m = h.manager();
        const name = h.name();
        await put(m, name, { user: 'u', ssl_verify_server_cert: 'true' }, 'mysql');
        const mysql = await m.schema('mysql');
        const typed = await m.get(name, mysql);
        assert.equal(typed.schema, 'mysql');
        assert.deepEqual(typed.data, { user: 'u', ssl_verify_server_cert: true });
      });

      itReads('stores typed values with their JSON types and keeps them on update', async () => {
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
        const names = Array.from({ length: cap === undefined ? 105 : Math.min(105, Math.floor(cap / 2)) }, () =>
          h.name(),
        );
        for (let i = 0; i < names.length; i += 15)
          await Promise.all(names.slice(i, i + 15).map((n) => put(m, n, { k: 'v' })));
        const listed = new Set(await m.list());
        assert.equal(names.filter((n) => !listed.has(n)).length, 0);
      });
    });

    t.describe('absence and conflicts', () => {
      itReads('get of a missing secret is SecretNotFoundError', async () => {
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

      itReads('describe of a missing secret is SecretNotFoundError', async () => {
        await expectCode(h.manager().describe(h.name()), 'secret_not_found');
      });

      t.it('update of a missing secret is SecretNotFoundError', async () => {
        await expectCode(h.manager().update(h.name(), { a: 'b' }, { schema: 'arbitrary' }), 'secret_not_found');
      });

      t.it('delete of a missing secret is SecretNotFoundError', async () => {
        await expectCode(h.manager().delete(h.name()), 'secret_not_found');
      });
    });

    t.describe('describe', () => {
      itReads(
        'gives the schema, the key names and the stored size, and no values; times, where the flavor has them, are ordered',
        async () => {
          const m = h.manager();
          const name = h.name();
          const password = secretValue();
          await put(m, name, { username: 'u', password }, 'basic_auth');
          const d = await m.describe(name);
          assert.equal(d.schema, 'basic_auth');
          assert.deepEqual([...d.keys].sort(), ['password', 'username']);
          assert.ok(d.bytes > password.length && d.bytes <= flavor.maxContentBytes, `size ${d.bytes}`);
          assert.ok(!JSON.stringify(d).includes(password), 'describe must not carry values');
          for (const time of [d.createdAt, d.updatedAt])
            assert.ok(time === null || (time instanceof Date && !Number.isNaN(time.getTime())));
          if (d.createdAt && d.updatedAt) assert.ok(d.createdAt <= d.updatedAt, 'created after updated');
          await m.patch(name, { set: { username: 'a-longer-user' } });
          const after = await m.describe(name);
          assert.equal(after.bytes, d.bytes + 'a-longer-user'.length - 1);
          if (d.updatedAt && after.updatedAt) assert.ok(after.updatedAt >= d.updatedAt, 'update moved the time back');
        },
      );
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

      itReads('patch merges and removes keys', async () => {
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

      const deleteAllTitle = 'deleteAll empties its own scope and reports how many it deleted';
      if (!flavor.supportsScoping) {
        skip(
          deleteAllTitle,
          "without scoping, deleteAll would delete every secret of the backend domain, not only the suite's",
        );
      } else {
        t.it(deleteAllTitle, async () => {
          const m = h.manager();
          const other = h.manager();
          const keep = h.name();
          await put(other, keep, { k: 'v' });
          for (const n of [h.name(), h.name()]) await put(m, n, { k: 'v' });
          assert.equal(await m.deleteAll(), 2);
          assert.deepEqual(await m.list(), []);
          assert.ok((await other.list()).includes(keep), 'deleteAll touched another scope');
        });
      }
    });

    t.describe('values', () => {
      const cases: [string, string][] = [
        ['an empty string', ''],
        ['unicode', 'päss wörd ✓ 鍵 🔑'],
        [
          'a multi-line PEM with a trailing newline',
          `-----BEGIN PRIVATE KEY-----\n${randomBytes(300)
            .toString('base64')
            .replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`,
        ],
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
      const bad = [
        '',
        'has space',
        ...(nameRule.dots ? [] : ['has.dot']),
        'has/slash',
        'tab\tname',
        'nl\nname',
        'x'.repeat(nameRule.maxLength + 1),
      ];
      for (const name of bad) {
        t.it(
          `rejects the secret name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}…(${name.length})` : name)}`,
          async () => {
            const m = h.manager();
            await expectCode(m.register(name, { a: 'b' }), 'invalid_name');
            if (readable) await expectCode(m.get(name), 'invalid_name');
            await expectCode(m.delete(name), 'invalid_name');
          },
        );
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

      nameRuleTests(ctx);

      t.it('rejects reserved keys', async () => {
        const m = h.manager();
        for (const key of ['name', `${prefix}_schema_name`])
          await expectCode(m.register(h.name(), { [key]: 'x' }), 'invalid_name');
      });

      t.it('rejects keys a typed schema does not declare, naming the key but not the value', async () => {
        const m = h.manager();
        const value = secretValue();
        await expectCode(
          m.register(h.name(), { username: 'u', password: 'p', extra: value }, { schema: 'basic_auth' }),
          'schema_validation',
          [value],
        );
      });
    });

    scopeMatrix(ctx);
    faultTests(ctx, o.faults);

    t.describe('no value in any error', () => {
      t.it('errors from a failing register carry no value in message, hint or cause', async () => {
        const m = h.manager();
        const name = h.name();
        const value = secretValue();
        await put(m, name, { a: value });
        await expectCode(m.register(name, { a: value }), 'secret_exists', [value]);
        await expectCode(m.register(h.name(), { username: value }, { schema: 'basic_auth' }), 'schema_validation', [
          value,
        ]);
      });
    });

    o.additionalTests?.(h);
    testConcurrency(t, h, { readable });
    testVersions(ctx);
  });
}

/** ZenML's scope test (tests/integration/secrets_manager/test_secrets_manager_scope.py), ported. */
function scopeMatrix(ctx: SuiteContext): void {
  const { t, h, put, read, expectCode, readable, flavor } = ctx;
  const ns = () => `ns${randomBytes(4).toString('hex')}`;
  const absent = async (m: SecretsManager, name: string) => {
    assert.ok(!(await m.list()).includes(name), `${name} leaked into ${m.where}`);
    if (readable) await expectCode(m.get(name), 'secret_not_found');
  };
  const isConfigError = (e: unknown) => isKeystackError(e) && e.code === 'config';

  if (!flavor.supportsScoping) {
    t.describe('scopes', () => {
      t.it('defaults to no scope', () => {
        assert.equal(h.manager({}).scope.scope, 'none');
      });
      t.it('refuses a scoped config, naming the problem', () => {
        for (const scope of ['global', 'component', 'namespace'] as const) {
          assert.throws(
            () => h.manager({ scope, ...(scope === 'namespace' ? { namespace: ns() } : {}) }),
            isConfigError,
            `scope ${scope} was accepted`,
          );
        }
      });
      t.it('takes an explicit none scope', async () => {
        const m = h.manager({ scope: 'none' });
        const name = h.name();
        await put(m, name, { k: 'v' });
        assert.ok((await m.list()).includes(name));
      });
    });
    return;
  }

  t.describe('scopes', () => {
    t.it('defaults to component scope', async () => {
      // h.manager leaves `scope` out of the config, so this is the flavor's (and the core's) default.
      const m = h.manager({});
      assert.equal(m.scope.scope, 'component');
      const name = h.name();
      await put(m, name, { k: 'v' });
      assert.ok(
        (await h.manager({ scope: 'component', uuid: m.uuid }).list()).includes(name),
        'a manager without a scope does not share the component scope of its UUID',
      );
    });

    t.it('one name registered in all four scopes without conflict, each reading its own values', async () => {
      const name = h.name();
      const [none, global, component, namespace] = [
        h.manager({ scope: 'none' }),
        h.manager({ scope: 'global' }),
        h.manager({ scope: 'component' }),
        h.manager({ scope: 'namespace', namespace: ns() }),
      ];
      const managers = [none, global, component, namespace];
      const values = managers.map((_, i) => ({ key: `value-${i}-${randomBytes(8).toString('hex')}` }));
      for (const [i, m] of managers.entries()) await put(m, name, values[i] ?? {});
      for (const [i, m] of managers.entries()) {
        const got = await read(m, name);
        if (got) assert.deepEqual(got, values[i]);
      }
      // none and global share their domain with others, so they must list the name among others.
      for (const m of [none, global]) assert.ok((await m.list()).includes(name), `${name} is not listed in ${m.where}`);
      assert.deepEqual(await component.list(), [name]);
      assert.deepEqual(await namespace.list(), [name]);
    });

    t.it('a secret of one scope is invisible in every other scope', async () => {
      const managers = [
        h.manager({ scope: 'none' }),
        h.manager({ scope: 'global' }),
        h.manager({ scope: 'component' }),
        h.manager({ scope: 'namespace', namespace: ns() }),
      ];
      const names = managers.map(() => h.name());
      for (const [i, m] of managers.entries()) await put(m, names[i] ?? h.name(), { k: 'v' });
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
      const scoped = [
        h.manager({ scope: 'global' }),
        h.manager({ scope: 'component' }),
        h.manager({ scope: 'namespace', namespace: ns() }),
      ];
      const name = h.name();
      for (const m of scoped) await put(m, name, { k: 'v' });
      await absent(none, name);
    });

    t.it('a namespace scope needs a namespace', () => {
      assert.throws(() => h.manager({ scope: 'namespace' }), isConfigError);
    });
  });
}

function countCalls(be: SecretsBackend, counter: { calls: number }): SecretsBackend {
  // A proxy rather than a copy: a custom backend may be a class instance with prototype methods.
  return new Proxy(be, {
    get(target, key) {
      const v: unknown = Reflect.get(target, key, target);
      if (typeof v !== 'function' || key === 'close') return v;
      return (...args: unknown[]) => {
        counter.calls++;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/**
 * The flavor's declared name rule, both ways: names outside it are refused by the core before the
 * backend is called; names inside it, including those a backend has to encode, round-trip.
 */
function nameRuleTests(ctx: SuiteContext): void {
  const { t, h, flavor, put, read, expectCode, readable } = ctx;
  const rule = flavor.nameRule;
  // Unscoped, the backend name is the name, so the declared maximum applies as it is.
  const max = rule.maxScopedLength === undefined ? rule.maxLength : Math.min(rule.maxLength, rule.maxScopedLength);
  // Built at registration, from a fixed stem, so that test names are stable between runs.
  const stem = 'ksrule';
  const candidates = [
    `${stem}MixedCase`,
    stem.toUpperCase(),
    `${stem}-dash`,
    `${stem}_under`,
    `${stem}@at`,
    `${stem}+plus`,
    `${stem}=eq`,
    `${stem}__double`,
    `${stem}_`,
    `0${stem}`,
    `${stem}!bang`,
    `${stem};semi`,
    `${stem}\u00fcmlaut`,
    `${stem}%2e`,
    `${stem}*star`,
    `${stem}:colon`,
    `${stem}#hash`,
    `${stem}?q`,
    `${stem}~tilde`,
    `${stem}'quote`,
    `${stem}.dot`,
  ];
  // The core refuses '.' unless the rule allows dots (it ends the name in `{{name.key}}`).
  const accepted = (n: string) =>
    n.length <= max && (rule.dots === true || !n.includes('.')) && fullMatch(rule.pattern, n);
  /** Names in messages: the longest ones are thousands of characters. */
  const show = (n: string) => (n.length > 60 ? `${n.slice(0, 40)}…(${n.length} characters)` : n);
  const good = candidates.filter(accepted);
  const bad = candidates.filter((n) => !accepted(n));
  /** A unique name with the candidate's shape: the run's random part goes after the stem. */
  const unique = (candidate: string, id: string) =>
    candidate.replace(stem, `${stem}${id}`).replace(stem.toUpperCase(), `${stem}${id}`.toUpperCase());
  const uniqueId = () => h.name().slice(2);

  t.it(`refuses names outside its rule (${rule.description}) before any backend call`, async () => {
    const { m, calls } = ctx.countingManager();
    const tooLong = `${stem}${'x'.repeat(max + 1 - stem.length)}`;
    for (const name of [...bad, tooLong]) {
      await expectCode(m.register(name, { a: 'b' }), 'invalid_name');
      if (readable) await expectCode(m.get(name), 'invalid_name');
      await expectCode(m.update(name, { a: 'b' }, { schema: 'arbitrary' }), 'invalid_name');
      await expectCode(m.delete(name), 'invalid_name');
    }
    assert.equal(calls(), 0, 'the backend was called for a name its rule refuses');
    // The counter itself counts: a valid call reaches the backend.
    await m.list();
    assert.ok(calls() > 0, 'internal: the call counter saw no call');
  });

  const roundTrip = async (name: string, m = h.manager()) => {
    const values = { k: ctx.secretValue() };
    await put(m, name, values);
    const got = await read(m, name);
    if (got) assert.deepEqual(got, values, `values of ${show(name)}`);
    assert.ok(
      (await m.list()).includes(name),
      `${show(name)} is not listed as registered (encoding does not round-trip)`,
    );
    await m.delete(name);
    assert.ok(!(await m.list()).includes(name), `${show(name)} is still listed after delete`);
    if (readable) await expectCode(m.get(name), 'secret_not_found');
  };
  for (const candidate of good) {
    t.it(`round-trips a name its rule accepts: ${JSON.stringify(candidate)}`, async () =>
      roundTrip(unique(candidate, uniqueId())),
    );
  }
  const longest = () => {
    const base = `${stem}${uniqueId()}`;
    const name = base + 'x'.repeat(max - base.length);
    assert.ok(accepted(name), `the name rule refuses ${show(name)}, a name of letters of its maximum length`);
    return name;
  };
  // Unscoped, the backend name is the name itself, so the whole declared length must fit.
  t.it(`round-trips an unscoped name of the maximum length (${max})`, async () =>
    roundTrip(longest(), h.manager({ scope: 'none' })),
  );
  if (flavor.supportsScoping) {
    // A backend whose limit covers the scope path too may refuse it here, but only as a name error.
    t.it(`a scoped name of the maximum length round-trips, or is refused as too long for the scope`, async () => {
      const m = h.manager({ scope: 'component' });
      const name = longest();
      try {
        await m.register(name, { k: 'v' });
      } catch (e) {
        if (isKeystackError(e) && e.code === 'invalid_name') return;
        throw e;
      }
      await m.delete(name);
      await roundTrip(name, m);
    });
  }
}
