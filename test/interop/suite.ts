/**
 * Interop with ZenML 0.30.0's own secrets managers (issue 10 §1), one test file per backend
 * (zenml-<backend>.test.ts, so that the backends run in parallel). For the backend, every scope and the arbitrary, aws, basic_auth and mysql schemas, in four phases:
 *
 *   1. ZenML registers secrets (one driver process for the whole backend);
 *   2. keystack reads, lists, updates and deletes them, registers its own, and the raw backend
 *      objects the two tools wrote for the same logical secret are compared;
 *   3. ZenML reads, lists, updates and deletes what keystack wrote (one driver process);
 *   4. keystack reads back ZenML's changes.
 *
 * Both sides use the same manager identity (UUID and name), scope_prefix=zenml, and each phase
 * depends on the one before, so the tests of one backend run in order.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManager, type Secret } from '../../src/core/manager.js';
import { KeystackError } from '../../src/errors.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';
import { SCOPES, type Scope, type ScopeContext } from '../../src/secrets/scope.js';
import { cli, tempEnv } from '../support/cli.js';
import {
  runZenml,
  zenmlPython,
  type InteropBackend,
  type RawObject,
  type ZenmlManager,
  type ZenmlOp,
  type ZenmlResult,
  type ZenmlSecret,
} from './harness.js';

const configDir = mkdtempSync(join(tmpdir(), 'keystack-interop-'));
const schemas = createSchemaRegistry();
const rand = () => randomBytes(4).toString('hex');
const NO_MYSQL = 'No SecretSchema class found for schema flavor `mysql`';

/** One schema's data: what ZenML writes (Python types), keystack's string view of it, and the changes. */
interface CaseData {
  id: string;
  schema: string;
  /** Registered by ZenML in phase 1 and by keystack (as strings) in phase 2. */
  v1: Record<string, unknown>;
  /** keystack's update of the ZenML-written secret, and how ZenML must then read it. */
  v2: Record<string, string>;
  v2Typed: Record<string, unknown>;
  /** ZenML's update of the keystack-written secret (Python types). */
  v3: Record<string, unknown>;
  scopes?: readonly Scope[];
}

const asStrings = (v: Record<string, unknown>): Record<string, string> =>
  Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typeof x === 'string' ? x : JSON.stringify(x)]));

const CASES: CaseData[] = [
  {
    id: 'arbitrary',
    schema: 'arbitrary',
    v1: { api_key: 'ak-1', note: 'line one\nline two', empty: '' },
    v2: { api_key: 'ak-2', added: 'yes' },
    v2Typed: { api_key: 'ak-2', added: 'yes' },
    v3: { api_key: 'ak-3' },
  },
  {
    id: 'aws',
    schema: 'aws',
    v1: { aws_access_key_id: 'AKIAINTEROP1', aws_secret_access_key: 'sk/1+x' },
    v2: { aws_access_key_id: 'AKIAINTEROP2', aws_secret_access_key: 'sk2', aws_session_token: 'tok2' },
    v2Typed: { aws_access_key_id: 'AKIAINTEROP2', aws_secret_access_key: 'sk2', aws_session_token: 'tok2' },
    v3: { aws_access_key_id: 'AKIAINTEROP3', aws_secret_access_key: 'sk3' },
  },
  {
    id: 'basic_auth',
    schema: 'basic_auth',
    v1: { username: 'admin', password: 'pw-1 with spaces' },
    v2: { username: 'admin', password: 'pw-2' },
    v2Typed: { username: 'admin', password: 'pw-2' },
    v3: { username: 'root', password: 'pw-3' },
  },
  {
    // ZenML's Python API stores an arbitrary secret's values with their JSON types; keystack must
    // read them, and keep them when it updates the secret.
    id: 'typed',
    schema: 'arbitrary',
    v1: { host: 'db.local', ssl_verify_server_cert: true, port: 3306, options: { pool: 2 } },
    v2: { host: 'db2.local', ssl_verify_server_cert: 'false', port: '3307', options: '{"pool":3}' },
    v2Typed: { host: 'db2.local', ssl_verify_server_cert: false, port: 3307, options: { pool: 3 } },
    v3: { host: 'db3.local', ssl_verify_server_cert: true, port: 1 },
  },
];
/** keystack's mysql secret, and the ZenML arbitrary secret with the same typed content it is compared to. */
const MYSQL = {
  values: { user: 'u', password: 'p', ssl_verify_server_cert: 'true' },
  typed: { user: 'u', password: 'p', ssl_verify_server_cert: true },
};

const code = (e: unknown) => (e instanceof KeystackError ? e.code : String(e));
const notFound = async (p: Promise<unknown>) => {
  expect(
    code(
      await p.then(
        () => 'resolved',
        (e: unknown) => e,
      ),
    ),
  ).toBe('secret_not_found');
};

/**
 * The one normalisation of raw objects: each tool wrote its own secret, so the secret's name (in
 * the backend id and in the `zenml_secret_name` label) differs; it is replaced by `<name>`.
 * Optionally the schema too (mysql vs the arbitrary secret it is compared with).
 */
function normalise(raw: RawObject | null, name: string, schema?: string): unknown {
  if (!raw) return null;
  const labels =
    raw.labels &&
    Object.fromEntries(
      Object.entries(raw.labels).map(([k, v]) => [
        k,
        k === 'zenml_secret_name' && v === name ? '<name>' : schema && k === 'zenml_secret_schema' ? '<schema>' : v,
      ]),
    );
  const payload = { ...raw.payload };
  if (schema) payload['zenml_schema_name'] = '<schema>';
  // The scope path is joined with `/` (aws, vault) or `-` (gcp, azure).
  const named = raw.id === name || raw.id.endsWith(`/${name}`) || raw.id.endsWith(`-${name}`);
  return { id: named ? `${raw.id.slice(0, raw.id.length - name.length)}<name>` : raw.id, payload, labels };
}

/** The whole interop matrix for one backend. */
export function describeZenmlInterop(backend: InteropBackend): void {
  /** A raw object's labels without keystack's version label, and that label's value. */
  const apart = (raw: RawObject | null) => {
    const { [backend.versionLabel ?? '']: base, ...labels } = raw?.labels ?? {};
    return { base, labels: raw?.labels ? labels : raw?.labels };
  };
  describe(`ZenML 0.30.0 interop: ${backend.id}`, () => {
    const zenml = zenmlPython();
    const skipAll = 'unavailable' in zenml ? zenml.unavailable : backend.unavailable();
    if (skipAll) {
      // One skipped test with the reason, rather than the whole matrix skipped line by line.
      it('ZenML <-> keystack, every scope and schema', (t) => t.skip(skipAll));
      return;
    }
    const python = 'python' in zenml ? zenml.python : '';
    const uuid = randomUUID();
    const managerName = `interop_${rand()}`;
    const ns = backend.namespace(rand());
    const managers = new Map<Scope, SecretsManager>();
    const identity = (scope: Scope): ZenmlManager => ({
      scope,
      namespace: scope === 'namespace' ? ns : undefined,
      uuid,
      name: managerName,
    });
    const ctx = (scope: Scope): ScopeContext => ({
      scope,
      namespace: scope === 'namespace' ? ns : undefined,
      componentUuid: uuid,
      componentName: managerName,
      prefix: 'zenml',
    });
    const keystack = (scope: Scope): SecretsManager => {
      let m = managers.get(scope);
      if (!m) {
        const config = {
          ...backend.keystackConfig(),
          scope,
          scope_prefix: 'zenml',
          ...(scope === 'namespace' ? { namespace: ns } : {}),
        };
        m = new SecretsManager({
          record: { uuid, name: managerName, flavor: backend.id, config },
          flavor: backend.flavor,
          configDir,
          env: backend.keystackEnv(),
          schemas,
        });
        managers.set(scope, m);
      }
      return m;
    };
    const written: { scope: Scope; name: string }[] = [];
    const name = (scope: Scope, kind: string) => {
      const n = backend.secretName(`${kind}_${rand()}`);
      written.push({ scope, name: n });
      return n;
    };

    // Phase 1 ops and where their results land; later phases look results up by label.
    const phase1: { label: string; op: ZenmlOp }[] = [];
    const phase3: { label: string; op: ZenmlOp }[] = [];
    const results = new Map<string, ZenmlResult>();
    const result = (label: string): ZenmlResult => {
      const r = results.get(label);
      if (!r) throw new Error(`no ZenML result for ${label} (an earlier phase failed)`);
      return r;
    };
    const ok = (label: string): unknown => {
      const r = result(label);
      if (!r.ok) throw new Error(`ZenML ${label} failed: ${r.error}: ${r.message}`);
      return r.result;
    };

    interface Planned {
      scope: Scope;
      c: CaseData;
      a: string;
      cName: string;
      b: string;
      e: string;
      rawK?: RawObject | null;
    }
    const plans: Planned[] = [];
    const activeScopes = SCOPES.filter((s) => !backend.skipScopes?.[s]);
    for (const scope of activeScopes) {
      for (const c of CASES) {
        if (c.scopes && !c.scopes.includes(scope)) continue;
        const p: Planned = {
          scope,
          c,
          a: name(scope, `${c.id}_a`),
          cName: name(scope, `${c.id}_c`),
          b: name(scope, `${c.id}_b`),
          e: name(scope, `${c.id}_e`),
        };
        plans.push(p);
        phase1.push({
          label: `${scope}/${c.id}/register-a`,
          op: { manager: identity(scope), op: 'register', schema: c.schema, name: p.a, values: c.v1 },
        });
        phase1.push({
          label: `${scope}/${c.id}/register-c`,
          op: { manager: identity(scope), op: 'register', schema: c.schema, name: p.cName, values: c.v1 },
        });
      }
    }
    const mysql = activeScopes.map((scope) => ({
      scope,
      refused: name(scope, 'mysql_z'),
      typed: name(scope, 'mysql_t'),
      b: name(scope, 'mysql_b'),
      e: name(scope, 'mysql_e'),
    }));
    for (const m of mysql) {
      phase1.push({
        label: `${m.scope}/mysql/register-refused`,
        op: { manager: identity(m.scope), op: 'register', schema: 'mysql', name: m.refused, values: MYSQL.typed },
      });
      phase1.push({
        label: `${m.scope}/mysql/register-typed`,
        op: { manager: identity(m.scope), op: 'register', schema: 'arbitrary', name: m.typed, values: MYSQL.typed },
      });
    }
    // A name as long as the backend takes: keystack must list, read, update and delete it.
    const longScope: Scope = 'global';
    const longLength = backend.longName?.(ctx(longScope)) ?? null;
    const long = longLength === null ? null : `l${rand()}`.padEnd(longLength, 'x');
    if (long) {
      written.push({ scope: longScope, name: long });
      phase1.push({
        label: 'long/register',
        op: { manager: identity(longScope), op: 'register', schema: 'arbitrary', name: long, values: { k: 'v' } },
      });
    }

    // A ZenML component-scoped manager adopted by the keystack CLI through --uuid.
    const adopt = name('component', 'adopt');
    phase1.push({
      label: 'adopt/register',
      op: {
        manager: identity('component'),
        op: 'register',
        schema: 'arbitrary',
        name: adopt,
        values: { token: 't-1', verify: true },
      },
    });

    const run = (ops: { label: string; op: ZenmlOp }[]) => {
      const out = runZenml(
        python,
        backend.id,
        backend.connection(),
        ops.map((o) => o.op),
        backend.driverEnv?.(),
      );
      ops.forEach((o, i) => results.set(o.label, out[i] as ZenmlResult));
    };

    beforeAll(() => {
      run(phase1);
    }, 300_000);
    afterAll(async () => {
      // Only what this file wrote: other files share the servers (and Vault's mount root).
      for (const { scope, name: n } of written)
        await keystack(scope)
          .delete(n)
          .catch(() => undefined);
      await Promise.all([...managers.values()].map((m) => m.close()));
      await backend.close?.();
    });

    for (const [scope, reason] of Object.entries(backend.skipScopes ?? {})) {
      it(`scope ${scope}: ZenML <-> keystack`, (t) => t.skip(`skipped on ${backend.id}: ${reason}`));
    }

    for (const p of plans) {
      it(`scope ${p.scope}, schema ${p.c.id}: ZenML writes; keystack reads, lists, updates, deletes, and writes the same raw object`, async () => {
        const { scope, c } = p;
        const ks = keystack(scope);
        ok(`${scope}/${c.id}/register-a`);
        ok(`${scope}/${c.id}/register-c`);
        const rawZ = await backend.raw(ctx(scope), p.a);

        const got: Secret = await ks.get(p.a);
        expect({ schema: got.schema, values: got.values }).toEqual({ schema: c.schema, values: asStrings(c.v1) });
        expect(await ks.list()).toEqual(expect.arrayContaining([p.a, p.cName]));

        await ks.update(p.a, c.v2);
        const updated = await backend.raw(ctx(scope), p.a);
        // An update replaces the content, keeps the JSON types ZenML wrote, and leaves ZenML's labels alone.
        expect(updated?.payload).toEqual({ ...c.v2Typed, zenml_schema_name: c.schema });
        const { base, labels } = apart(updated);
        expect(labels).toEqual(rawZ?.labels);
        if (backend.versionLabel) expect(base).toMatch(/^[0-9a-f]{32}$/);
        else expect(base).toBeUndefined();

        await ks.delete(p.cName);
        await notFound(ks.get(p.cName));
        expect(await backend.raw(ctx(scope), p.cName)).toBeNull();

        await ks.register(p.b, asStrings(c.v1), { schema: c.schema });
        await ks.register(p.e, asStrings(c.v1), { schema: c.schema });
        const rawK = await backend.raw(ctx(scope), p.b);
        p.rawK = rawK;
        if (c.id !== 'typed') {
          // Same logical secret, written by each tool: the same backend object.
          expect(normalise(rawK, p.b)).toEqual(normalise(rawZ, p.a));
        } else {
          // From strings, an arbitrary secret is all strings (the CLI has no typed input for it).
          expect(rawK?.payload).toEqual({ ...asStrings(c.v1), zenml_schema_name: 'arbitrary' });
        }

        const m = identity(scope);
        phase3.push(
          { label: `${scope}/${c.id}/get-a`, op: { manager: m, op: 'get', name: p.a } },
          { label: `${scope}/${c.id}/get-c`, op: { manager: m, op: 'get', name: p.cName } },
          { label: `${scope}/${c.id}/get-b`, op: { manager: m, op: 'get', name: p.b } },
          { label: `${scope}/${c.id}/list`, op: { manager: m, op: 'list' } },
          {
            label: `${scope}/${c.id}/update-b`,
            op: { manager: m, op: 'update', schema: c.schema, name: p.b, values: c.v3 },
          },
          { label: `${scope}/${c.id}/delete-e`, op: { manager: m, op: 'delete', name: p.e } },
          { label: `${scope}/${c.id}/list-after`, op: { manager: m, op: 'list' } },
        );
      });
    }

    for (const m of mysql) {
      it(`scope ${m.scope}, schema mysql: ZenML 0.30 has no mysql schema; keystack stores its boolean as ZenML stores one`, async () => {
        const refused = result(`${m.scope}/mysql/register-refused`);
        expect(refused).toMatchObject({ ok: false, error: 'KeyError' });
        expect(refused.ok ? '' : refused.message).toContain(NO_MYSQL);
        ok(`${m.scope}/mysql/register-typed`);
        const ks = keystack(m.scope);
        await ks.register(m.b, MYSQL.values, { schema: 'mysql' });
        await ks.register(m.e, MYSQL.values, { schema: 'mysql' });
        const rawK = await backend.raw(ctx(m.scope), m.b);
        expect(rawK?.payload['ssl_verify_server_cert']).toBe(true);
        expect(normalise(rawK, m.b, 'mysql')).toEqual(
          normalise(await backend.raw(ctx(m.scope), m.typed), m.typed, 'arbitrary'),
        );
        const typed = await ks.get(m.typed);
        expect(typed.values).toEqual(MYSQL.values);
        const id = identity(m.scope);
        phase3.push(
          { label: `${m.scope}/mysql/get-b`, op: { manager: id, op: 'get', name: m.b } },
          { label: `${m.scope}/mysql/list`, op: { manager: id, op: 'list' } },
          { label: `${m.scope}/mysql/delete-e`, op: { manager: id, op: 'delete', name: m.e } },
        );
      });
    }

    if (long) {
      it(`a ${long.length}-character name written by ZenML (the longest ${backend.id} takes in ${longScope} scope) can be listed, read, updated and deleted`, async () => {
        ok('long/register');
        const ks = keystack(longScope);
        expect(await ks.list()).toContain(long);
        expect((await ks.get(long)).values).toEqual({ k: 'v' });
        await ks.update(long, { k: 'w' });
        expect((await ks.get(long)).values).toEqual({ k: 'w' });
        await ks.delete(long);
        expect(await ks.list()).not.toContain(long);
      });
    }

    it("the CLI adopts ZenML's component-scoped manager with --uuid, and lists, reads and updates its dotted secret", () => {
      ok('adopt/register');
      const e = tempEnv(backend.keystackEnv());
      const flags = Object.entries(backend.keystackConfig()).map(([k, v]) => `--${k}=${String(v)}`);
      const reg = cli(e, [
        'secrets-manager',
        'register',
        'zsm',
        `--flavor=${backend.id}`,
        '--scope=component',
        `--uuid=${uuid}`,
        '--scope_prefix=zenml',
        ...flags,
      ]);
      expect(reg.status, reg.stderr).toBe(0);
      expect(cli(e, ['stack', 'register', 'zs', '-x', 'zsm', '--set']).status).toBe(0);
      const listed = cli(e, ['secret', 'list']);
      expect(listed.stdout.split('\n'), listed.stderr).toContain(adopt);
      const got = cli(e, ['--json', 'secret', 'get', adopt]);
      expect(got.status, got.stderr).toBe(0);
      expect(JSON.parse(got.stdout)).toMatchObject({
        values: { token: 't-1', verify: 'true' },
        data: { token: 't-1', verify: true },
      });
      expect(cli(e, ['secret', 'update', adopt, '--token=t-2']).status).toBe(0);
      const dotted = name('component', 'cli');
      const reg2 = cli(e, ['secret', 'register', dotted, '--k=v']);
      expect(reg2.status, reg2.stderr).toBe(0);
      if (dotted.includes('.'))
        expect(reg2.stderr).toContain(`secret '${dotted}' cannot be used in {{name.key}} references`);
      const twin = cli(e, [
        'secrets-manager',
        'register',
        'zsm2',
        `--flavor=${backend.id}`,
        `--uuid=${uuid}`,
        ...flags,
      ]);
      expect(twin.status).toBe(1);
      expect(twin.stderr).toContain(`the id ${uuid} is already registered`);
      phase3.push({ label: 'adopt/get', op: { manager: identity('component'), op: 'get', name: adopt } });
    });

    it('ZenML reads, lists, updates and deletes what keystack wrote and changed', () => {
      expect(phase3.length).toBeGreaterThan(0);
      run(phase3);
    }, 300_000);

    for (const p of plans) {
      it(`scope ${p.scope}, schema ${p.c.id}: keystack writes; ZenML reads, lists, updates, deletes; keystack reads ZenML's changes`, async () => {
        const { scope, c } = p;
        const L = `${scope}/${c.id}`;
        expect(ok(`${L}/get-a`)).toEqual({ schema: c.schema, content: c.v2Typed } satisfies ZenmlSecret);
        expect(result(`${L}/get-c`)).toMatchObject({ ok: false, error: 'KeyError' });
        const expectedB = c.id === 'typed' ? asStrings(c.v1) : c.v1;
        expect(ok(`${L}/get-b`)).toEqual({ schema: c.schema, content: expectedB });
        const listed = ok(`${L}/list`) as string[];
        expect(listed).toEqual(expect.arrayContaining([p.a, p.b, p.e]));
        expect(listed).not.toContain(p.cName);
        ok(`${L}/update-b`);
        ok(`${L}/delete-e`);
        expect(ok(`${L}/list-after`)).not.toContain(p.e);

        const ks = keystack(scope);
        // ZenML's update wrote the same layout over keystack's object: new content, labels untouched.
        const rawB = await backend.raw(ctx(scope), p.b);
        expect(rawB?.payload).toEqual({ ...c.v3, zenml_schema_name: c.schema });
        expect(rawB?.labels).toEqual(p.rawK?.labels);
        const b = await ks.get(p.b);
        expect({ schema: b.schema, values: b.values }).toEqual({ schema: c.schema, values: asStrings(c.v3) });
        await notFound(ks.get(p.e));
        expect(await ks.list()).not.toContain(p.e);

        // Versions ZenML wrote are in keystack's history like its own (issue 21): b's newest is
        // ZenML's update, the one before it keystack's register; a's previous is ZenML's register.
        expect(ks.keepsVersions).toBe(true);
        const sorted = (v: Record<string, unknown>) => Object.keys(v).sort();
        const [zenmlUpdate, keystackRegister] = await ks.history(p.b);
        expect(zenmlUpdate?.labels).toContain('current');
        expect(zenmlUpdate?.keys?.slice().sort()).toEqual(sorted(c.v3));
        expect(keystackRegister?.labels).toContain('previous');
        expect((await ks.getVersion(p.b, keystackRegister?.version ?? '')).values).toEqual(asStrings(c.v1));
        const [keystackUpdate, zenmlRegister] = await ks.history(p.a);
        expect(keystackUpdate?.keys?.slice().sort()).toEqual(sorted(c.v2));
        expect(zenmlRegister?.readable).toBe(true);
        expect((await ks.getVersion(p.a, zenmlRegister?.version ?? '')).values).toEqual(asStrings(c.v1));
      });
    }

    it('ZenML reads the update the adopting CLI made, with the boolean still a boolean', () => {
      expect(ok('adopt/get')).toEqual({ schema: 'arbitrary', content: { token: 't-2', verify: true } });
    });

    for (const m of mysql) {
      it(`scope ${m.scope}, schema mysql: stock ZenML lists and deletes keystack's mysql secrets but cannot read them`, async () => {
        const got = result(`${m.scope}/mysql/get-b`);
        expect(got).toMatchObject({ ok: false, error: 'KeyError' });
        expect(got.ok ? '' : got.message).toContain(NO_MYSQL);
        expect(ok(`${m.scope}/mysql/list`)).toEqual(expect.arrayContaining([m.b, m.e]));
        ok(`${m.scope}/mysql/delete-e`);
        const ks = keystack(m.scope);
        await notFound(ks.get(m.e));
        expect((await ks.get(m.b)).values).toEqual(MYSQL.values);
      });
    }
  });
}
