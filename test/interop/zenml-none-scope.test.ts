/**
 * ZenML 0.30's `none` scope on gcp and azure (issue 10 §1): ZenML stores one backend object per key
 * (GCP: id `<name>_<key>`, labels `zenml-group-key` / `zenml-schema-name`; Azure:
 * `zenml-<hex(base64(name-key))>`, tags `zenml-group-key` / `zenml-key-name` /
 * `zenml-schema-name`). keystack must read each group as one secret (read-only), never list a
 * member as a secret of its own, and never update or delete one; ZenML must still read its
 * secrets afterwards. ZenML writes through its own classes (zenml_driver.py).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SecretsManager } from '../../src/core/manager.js';
import { KeystackError } from '../../src/errors.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';
import type { ScopeContext } from '../../src/secrets/scope.js';
import { azureBackend, gcpBackend } from './backends.js';
import { runZenml, zenmlPython, type ZenmlManager, type ZenmlOp } from './harness.js';

const zenml = zenmlPython();
const configDir = mkdtempSync(join(tmpdir(), 'keystack-interop-none-'));
const code = (e: unknown) => (e instanceof KeystackError ? e.code : String(e));
const failure = async (p: Promise<unknown>) =>
  code(
    await p.then(
      () => 'resolved',
      (e: unknown) => e,
    ),
  );

for (const backend of [gcpBackend(), azureBackend()]) {
  describe(`ZenML 0.30.0 none scope (per-key layout): ${backend.id}`, () => {
    const skip = 'unavailable' in zenml ? zenml.unavailable : backend.unavailable();
    const python = 'python' in zenml ? zenml.python : '';
    const uuid = randomUUID();
    const sep = backend.id === 'azure' ? '-' : '_';
    const r = randomBytes(3).toString('hex');
    const a = `ngrp${sep}a${r}`;
    const b = `ngrp${sep}b${r}`;
    const mine = `nks${r}`;
    const zm: ZenmlManager = { scope: 'none', uuid, name: `interop_none_${r}` };
    const ks = new SecretsManager({
      record: {
        uuid,
        name: zm.name,
        flavor: backend.id,
        config: { ...backend.keystackConfig(), scope: 'none', scope_prefix: 'zenml' },
      },
      flavor: backend.flavor,
      configDir,
      env: backend.keystackEnv(),
      schemas: createSchemaRegistry(),
    });
    const ctx: ScopeContext = { scope: 'none', componentUuid: uuid, componentName: zm.name, prefix: 'zenml' };
    afterAll(async () => {
      await ks.delete(mine).catch(() => undefined);
      if (!skip)
        runZenml(python, backend.id, backend.connection(), [
          { manager: zm, op: 'delete', name: a },
          { manager: zm, op: 'delete', name: b },
        ]);
      await ks.close();
      await backend.close?.();
    });

    it("keystack reads ZenML's per-key groups as one secret each, read-only, and never touches their members; ZenML reads them afterwards", async (t) => {
      if (skip) return t.skip(skip);
      const phase1: ZenmlOp[] = [
        {
          manager: zm,
          op: 'register',
          schema: 'arbitrary',
          name: a,
          values: { user: 'u', password: 'p w', port: 5432 },
        },
        { manager: zm, op: 'register', schema: 'basic_auth', name: b, values: { username: 'admin', password: 'pw' } },
      ];
      for (const res of runZenml(python, backend.id, backend.connection(), phase1))
        expect(res).toMatchObject({ ok: true });

      // The raw layout ZenML wrote: one object per key, none of them a keystack secret.
      expect(await backend.raw(ctx, a)).toBeNull();
      const listed = await ks.list();
      expect(listed).toEqual(expect.arrayContaining([a, b]));
      expect(listed.filter((n) => n.startsWith(`${a}_`) || n.startsWith('zenml-'))).toEqual([]);

      expect(await ks.get(a)).toEqual({
        name: a,
        schema: 'arbitrary',
        values: { user: 'u', password: 'p w', port: '5432' },
      });
      expect(await ks.get(b)).toEqual({ name: b, schema: 'basic_auth', values: { username: 'admin', password: 'pw' } });
      expect(await failure(ks.update(a, { user: 'x' }, { schema: 'arbitrary' }))).toBe('unsupported');
      expect(await failure(ks.patch(a, { set: { user: 'x' } }))).toBe('unsupported');
      expect(await failure(ks.delete(a))).toBe('unsupported');
      expect(await failure(ks.register(a, { k: 'v' }))).toBe('secret_exists');
      await ks.register(mine, { k: 'v' });
      expect(await backend.raw(ctx, mine)).toMatchObject({
        id: mine,
        payload: { k: 'v', zenml_schema_name: 'arbitrary' },
      });

      const phase2: ZenmlOp[] = [
        { manager: zm, op: 'get', name: a },
        { manager: zm, op: 'list' },
        { manager: zm, op: 'delete', name: b },
      ];
      const [getA, list, delB] = runZenml(python, backend.id, backend.connection(), phase2);
      // ZenML's per-key layout stringifies values.
      expect(getA).toEqual({
        ok: true,
        result: { schema: 'arbitrary', content: { user: 'u', password: 'p w', port: '5432' } },
      });
      expect(list).toMatchObject({ ok: true });
      const zenmlListed = list?.ok ? (list.result as string[]) : [];
      expect(zenmlListed).toEqual(expect.arrayContaining([a, b]));
      // ZenML's none scope lists only per-key groups, so keystack's own none-scope secret is not among them.
      expect(zenmlListed).not.toContain(mine);
      expect(delB).toMatchObject({ ok: true });
      expect(await failure(ks.get(b))).toBe('secret_not_found');
      expect(await ks.list()).not.toContain(b);
    }, 300_000);
  });
}
