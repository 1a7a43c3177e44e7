/**
 * The conformance suite's versions group (DESIGN §16). A flavor that declares `versions`,
 * `getVersion` and `retireVersion` must list versions newest first with `current` and `previous`,
 * read each one, roll back by writing a new version under a compare-and-set, and make a retired
 * version unreadable (or, where `capabilities.retireVersions` is false, refuse to retire). A flavor without them must say so with an UnsupportedOperationError, never
 * answer with the current version.
 */
import assert from 'node:assert/strict';
import { isKeystackError } from '../errors.js';
import type { SecretsManager } from '../core/manager.js';
import type { SecretsBackend } from '../core/types.js';
import type { SuiteContext } from './conformance.js';

export function testVersions(ctx: SuiteContext): void {
  const { t, h, put, skip, expectCode, flavor, readable, secretValue } = ctx;
  let declares = false;
  try {
    const be = h.manager();
    declares = be.keepsVersions;
  } catch {
    // A flavor that cannot even be created fails the other groups with its own error.
  }

  t.describe('versions', () => {
    if (!declares) {
      t.it('a flavor without versions refuses history, older versions, diff and rollback clearly', async () => {
        const m = h.manager();
        const name = h.name();
        for (const p of [m.history(name), m.getVersion(name, '1'), m.diff(name), m.rollback(name, 'previous')]) {
          await expectCode(p, 'unsupported');
          await p.catch((e: unknown) => {
            assert.ok(
              isKeystackError(e) && e.message.includes(flavor.name),
              `the error names the flavor: ${String(e)}`,
            );
            assert.match((e as Error).message, /versions/);
          });
        }
      });
      return;
    }
    const why = 'the flavor cannot read values back here (capabilities.readValues is false)';
    const it = (name: string, fn: () => Promise<void>) => (readable ? t.it(name, fn) : skip(name, why));

    const ids = async (m: SecretsManager, name: string) => (await m.history(name)).map((v) => v.version);
    /** A secret written three times: a, then a+b, then a changed, b removed, c added. */
    const threeVersions = async (m: SecretsManager) => {
      const name = h.name();
      const v = [secretValue(), secretValue(), secretValue(), secretValue()] as const;
      await put(m, name, { a: v[0] });
      await m.update(name, { a: v[0], b: v[1] });
      await m.update(name, { a: v[2], c: v[3] });
      return { name, values: v };
    };

    it('lists the versions newest first, with current and previous, and the keys each changed', async () => {
      const m = h.manager();
      const { name, values } = await threeVersions(m);
      const list = await m.history(name);
      assert.equal(list.length, 3, `three versions, got ${list.map((v) => v.version).join(', ')}`);
      assert.ok(list[0]?.labels.includes('current'), 'the newest is current');
      assert.ok(list[1]?.labels.includes('previous'), 'the one before is previous');
      assert.deepEqual(list[0]?.keys?.sort(), ['a', 'c']);
      assert.deepEqual(list.at(0)?.changes, { added: ['c'], removed: ['b'], changed: ['a'] });
      assert.deepEqual(list[1]?.changes, { added: ['b'], removed: [], changed: [] });
      assert.equal(list[2]?.changes, null, 'the oldest has nothing before it');
      const [t0 = 0, t1 = 0, t2 = 0] = list.map((v) => (v.createdAt ? v.createdAt.getTime() : 0));
      assert.ok(t0 >= t1 && t1 >= t2, 'newest first by time too');
      const text = JSON.stringify(list);
      for (const value of values) assert.ok(!text.includes(value), 'history holds no value');
      assert.equal((await m.history(name, { limit: 2 })).length, 2);
    });

    it('reads every version by id, and previous and current by label', async () => {
      const m = h.manager();
      const { name, values } = await threeVersions(m);
      const [v3 = '', v2 = '', v1 = ''] = await ids(m, name);
      assert.deepEqual((await m.getVersion(name, v1)).values, { a: values[0] });
      assert.deepEqual((await m.getVersion(name, v2)).values, { a: values[0], b: values[1] });
      assert.deepEqual((await m.getVersion(name, v3)).values, { a: values[2], c: values[3] });
      const previous = await m.getVersion(name, 'previous');
      assert.equal(previous.version, v2);
      assert.deepEqual(previous.values, { a: values[0], b: values[1] });
      assert.equal((await m.getVersion(name, 'current')).version, v3);
      // The id `history` lists is the one a read for provenance reports.
      assert.equal((await m.getVersioned(name)).version ?? v3, v3);
      await expectCode(m.getVersion(h.name(), 'previous'), 'secret_not_found');
    });

    it('diffs previous against current by default, naming keys only', async () => {
      const m = h.manager();
      const { name, values } = await threeVersions(m);
      const d = await m.diff(name);
      assert.deepEqual(
        { added: d.added, removed: d.removed, changed: d.changed },
        {
          added: ['c'],
          removed: ['b'],
          changed: ['a'],
        },
      );
      const [, , v1 = ''] = await ids(m, name);
      const whole = await m.diff(name, v1, 'current');
      assert.deepEqual(whole.added, ['c']);
      assert.deepEqual(whole.changed, ['a']);
      const text = JSON.stringify([d, whole]);
      for (const value of values) assert.ok(!text.includes(value), 'a diff holds no value');
    });

    it('rolls back by writing the old content and schema as a new current version', async () => {
      const m = h.manager();
      const name = h.name();
      const pw = secretValue();
      await put(m, name, { username: 'u', password: pw }, 'basic_auth');
      await m.update(name, { username: 'u', password: secretValue() });
      const before = await m.history(name);
      const r = await m.rollback(name, 'previous');
      assert.equal(r.restored, before[1]?.version);
      assert.equal(r.replaced, before[0]?.version);
      const after = await m.history(name);
      assert.equal(after.length, before.length + 1, 'history is never rewritten');
      assert.ok(after[0]?.labels.includes('current'));
      if (r.version !== null) assert.equal(after[0]?.version, r.version);
      const now = await m.get(name);
      assert.deepEqual(now.values, { username: 'u', password: pw });
      assert.equal(now.schema, 'basic_auth');
      await expectCode(m.rollback(name, 'current'), 'input');
    });

    it('refuses a rollback when another writer wrote after it started, and writes nothing', async () => {
      const first = h.manager();
      const name = h.name();
      await put(first, name, { k: secretValue() });
      await first.update(name, { k: secretValue() });
      const other = h.manager({ uuid: first.uuid });
      const theirs = secretValue();
      let armed = true;
      const m = ctx.wrappedManager({ uuid: first.uuid }, (be) =>
        interposed(be, async () => {
          if (!armed) return;
          armed = false;
          await other.update(name, { k: theirs });
        }),
      );
      await expectCode(m.rollback(name, 'previous'), 'conflict');
      assert.equal((await first.get(name)).values['k'], theirs, "the other writer's version stays current");
      assert.equal((await first.history(name)).length, 3);
    });

    if (flavor.capabilities.retireVersions === false) {
      it('refuses to retire a version, naming the flavor, and the version stays', async () => {
        const m = h.manager();
        const { name, values } = await threeVersions(m);
        const [, v2 = ''] = await ids(m, name);
        await expectCode(m.retireVersion(name, v2), 'unsupported');
        await m.retireVersion(name, v2).catch((e: unknown) => {
          assert.ok(isKeystackError(e) && e.message.includes(flavor.name), `the error names the flavor: ${String(e)}`);
        });
        assert.equal((await m.getVersion(name, v2)).values['b'], values[1]);
      });
      return;
    }

    it('retires an older version so that it can no longer be read; never the current one', async () => {
      const m = h.manager();
      const { name } = await threeVersions(m);
      const [v3 = '', v2 = ''] = await ids(m, name);
      await m.retireVersion(name, v2);
      await expectCode(m.getVersion(name, v2), 'not_found');
      const listed = (await m.history(name)).find((v) => v.version === v2);
      assert.ok(!listed || !listed.readable, 'a retired version is gone or listed as unreadable');
      await expectCode(m.retireVersion(name, v3), 'input');
      assert.equal((await m.getVersion(name, 'current')).version, v3);
    });
  });
}

/** The backend, with `before` run ahead of its first `getVersion` (a writer landing mid-rollback). */
function interposed(be: SecretsBackend, before: () => Promise<void>): SecretsBackend {
  return new Proxy(be, {
    get(target, key) {
      const v: unknown = Reflect.get(target, key, target);
      if (key !== 'getVersion' || typeof v !== 'function') return v;
      return async (...args: unknown[]) => {
        await before();
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
