// The conformance suite must not pass falsely: run it, through a runner that records what it
// registers, against small in-memory flavors that are broken on purpose, and check that the
// tests meant to catch each defect fail, and that what a flavor cannot do is reported as skipped.
import { describe, expect, it } from 'vitest';
import { defineFlavor, type FlavorDefinition, type SecretsBackend } from '../../src/core/types.js';
import type { StoredSecret } from '../../src/secrets/content.js';
import { BackendError } from '../../src/errors.js';
import { testFlavor, type FaultInjection, type TestRunner } from '../../src/testing/index.js';

type Fn = () => Promise<void> | void;

/** A runner that only records: tests by full name, skips with their reasons, and the hooks. */
function recorder(o: { withSkip?: boolean; withItSkip?: boolean } = {}) {
  const tests = new Map<string, Fn>();
  const skipped = new Map<string, string>();
  const after: Fn[] = [];
  const path: string[] = [];
  const full = (name: string) => [...path, name].join(' > ');
  const it = Object.assign(
    (name: string, fn: Fn) => void tests.set(full(name), fn),
    o.withItSkip ? { skip: (name: string) => void skipped.set(full(name), '') } : {},
  );
  const runner: TestRunner = {
    describe(name, fn) {
      path.push(name);
      fn();
      path.pop();
    },
    it,
    afterAll: (fn) => void after.push(fn),
    ...(o.withSkip === false ? {} : { skip: (name: string, reason: string) => void skipped.set(full(name), reason) }),
  };
  /** Runs the tests whose name contains `part`; returns the names of those that failed, with why. */
  const run = async (part: string) => {
    const failed: string[] = [];
    const names = [...tests.keys()].filter((n) => n.includes(part));
    expect(names.length, `no test matches ${part}`).toBeGreaterThan(0);
    for (const n of names) {
      try {
        await tests.get(n)?.();
      } catch (e) {
        failed.push(`${n}: ${(e as Error).message.replace(/\s+/g, ' ')}`);
      }
    }
    return { names, failed };
  };
  const cleanup = async () => {
    for (const fn of after) await fn();
  };
  return { runner, tests, skipped, run, cleanup };
}

interface MemoryOptions {
  bucket: string;
  fault?: string;
}

type Variant = {
  /** Reads failures as absence (unstorage's `catch { return null }`), the bug the fault group exists for. */
  swallow?: boolean;
  /** Create looks, then writes, without declaring `capabilities.atomicCreate: false`. */
  checkThenWrite?: boolean;
  /** Stores names lower-cased: an encoding that does not round-trip. */
  lossyNames?: boolean;
  /** Throws keystack errors from another copy of keystack (branded, but not `instanceof`). */
  foreignErrors?: boolean;
  readValues?: boolean;
  supportsScoping?: boolean;
};

const buckets = new Map<string, Map<string, StoredSecret>>();

/** An in-memory flavor; `fault` in its config makes every call fail like a broken server. */
function memoryFlavor(v: Variant = {}): FlavorDefinition<unknown> {
  const def = defineFlavor<MemoryOptions>({
    name: 'memory',
    description: 'in-memory (test)',
    supportsScoping: v.supportsScoping ?? true,
    isLocal: true,
    separator: '/',
    nameRule: { pattern: /[A-Za-z0-9_-]+/, maxLength: 100, description: 'letters, digits, - and _' },
    maxContentBytes: 64 * 1024,
    capabilities: { readValues: v.readValues ?? true },
    config: {
      bucket: { type: 'string', description: 'bucket', required: true },
      fault: { type: 'string', description: 'fault to inject' },
    },
    create(ctx): SecretsBackend {
      const store = buckets.get(ctx.config.bucket) ?? new Map<string, StoredSecret>();
      buckets.set(ctx.config.bucket, store);
      const path =
        ctx.scope.scope === 'none'
          ? ''
          : `${ctx.scope.prefix}/${ctx.scope.scope}/${ctx.scope.scope === 'component' ? ctx.scope.componentUuid : (ctx.scope.namespace ?? '')}/`;
      const key = (name: string) => path + (v.lossyNames ? name.toLowerCase() : name);
      const failing = () => {
        if (ctx.config.fault === undefined) return;
        if (v.foreignErrors) throw foreignBackendError(ctx.config.fault);
        throw Object.assign(new Error(`HTTP 503 (${ctx.config.fault})`), { status: 503 });
      };
      /** The operation, or (swallow) its failure read as absence. */
      const guard =
        <T>(absent: T, fn: () => T | Promise<T>) =>
        async (): Promise<T> => {
          try {
            failing();
            return await fn();
          } catch (e) {
            if (v.swallow) return absent;
            throw e;
          }
        };
      return {
        create: (name, secret) =>
          guard(false, async () => {
            if (store.has(key(name))) return false;
            if (v.checkThenWrite) await new Promise((r) => setTimeout(r, 5));
            store.set(key(name), secret);
            return true;
          })(),
        get: (name) => guard(null, () => store.get(key(name)) ?? null)(),
        list: () =>
          guard<string[]>([], () =>
            [...store.keys()]
              .filter((k) => k.startsWith(path) && !k.slice(path.length).includes('/'))
              .map((k) => k.slice(path.length)),
          )(),
        update: (name, secret) => guard(false, () => store.has(key(name)) && !!store.set(key(name), secret))(),
        delete: (name) => guard(false, () => store.delete(key(name)))(),
        deleteAll: () =>
          guard(0, () => {
            const mine = [...store.keys()].filter((k) => k.startsWith(path) && !k.slice(path.length).includes('/'));
            for (const k of mine) store.delete(k);
            return mine.length;
          })(),
      };
    },
  });
  return def;
}

/** A BackendError as another copy of keystack's module would make it: same brand, other class. */
function foreignBackendError(fault: string): Error {
  const e = new Error(`[memory] call failed: ${fault}`) as Error & { code: string; hint: undefined };
  e.name = 'BackendError';
  e.code = 'backend';
  e.hint = undefined;
  Object.defineProperty(e, Symbol.for('keystack.error'), { value: true });
  expect(e instanceof BackendError).toBe(false);
  return e;
}

const memoryFaults: FaultInjection = {
  setup: (mode) => Promise.resolve({ config: { bucket: 'shared', fault: mode }, close: () => Promise.resolve() }),
};

const suite = (v: Variant, o: { faults?: FaultInjection; withSkip?: boolean; withItSkip?: boolean } = {}) => {
  const r = recorder(o);
  testFlavor({
    flavor: memoryFlavor(v),
    config: { bucket: 'shared' },
    env: {},
    runner: r.runner,
    faults: o.faults ?? memoryFaults,
  });
  return r;
};

describe('the conformance suite fails broken flavors', () => {
  it('passes a correct flavor, every group', async () => {
    const r = suite({});
    const { failed } = await r.run('conformance: memory');
    await r.cleanup();
    expect(failed).toEqual([]);
    expect([...r.skipped.keys()]).toEqual([]);
  });

  it('fails a flavor that reads failures as absence, in every fault mode', async () => {
    const r = suite({ swallow: true });
    const { names, failed } = await r.run('failures are never absence > every operation');
    await r.cleanup();
    expect(names.length).toBe(8);
    expect(failed.length).toBe(8);
    expect(failed[0]).toMatch(/gave code secret_not_found instead of backend|resolved/);
  });

  it('fails a flavor whose create is check-then-write but which does not declare it', async () => {
    const r = suite({ checkThenWrite: true });
    // The test is src/testing/concurrency.ts's; this proves it fails such a flavor.
    const { failed } = await r.run('concurrent register of one name');
    await r.cleanup();
    expect(failed).toEqual([expect.stringMatching(/\d+ concurrent registers of one name succeeded/)]);
  });

  it('fails a flavor whose name encoding does not round-trip', async () => {
    const r = suite({ lossyNames: true });
    const { failed } = await r.run('round-trips a name its rule accepts: "ksruleMixedCase"');
    await r.cleanup();
    expect(failed).toEqual([expect.stringMatching(/not listed as registered/)]);
  });

  it('accepts keystack errors from another copy of keystack by their brand', async () => {
    const r = suite({ foreignErrors: true });
    const { failed } = await r.run('failures are never absence > every operation');
    await r.cleanup();
    expect(failed).toEqual([]);
  });
});

describe('what a flavor cannot do is reported as skipped, with the reason', () => {
  it('a write-only flavor: the tests that read values are skipped, not passed', () => {
    const r = suite({ readValues: false });
    expect(
      r.skipped.get('conformance: memory > absence and conflicts > get of a missing secret is SecretNotFoundError'),
    ).toMatch(/cannot read values/);
    expect(r.skipped.get('conformance: memory > update and delete > patch merges and removes keys')).toMatch(
      /readValues is false/,
    );
    expect([...r.tests.keys()].some((n) => n.includes('patch merges'))).toBe(false);
    const typed =
      'conformance: memory > round trips > stores typed values with their JSON types and keeps them on update';
    expect(r.skipped.get(typed)).toMatch(/readValues is false/);
    expect(r.tests.has(typed)).toBe(false);
  });

  it('no fault injection: the fault group is skipped with the reason', () => {
    const r = recorder();
    testFlavor({ flavor: memoryFlavor(), config: { bucket: 'shared' }, env: {}, runner: r.runner });
    const reasons = [...r.skipped].filter(([n]) => n.includes('failures are never absence')).map(([, why]) => why);
    expect(reasons.length).toBe(9);
    expect(new Set(reasons)).toEqual(new Set(['no `faults` option was given to testFlavor']));
  });

  it('a runner without skip(): the suite falls back to it.skip, with the reason in the name', () => {
    const r = suite({ readValues: false }, { withSkip: false, withItSkip: true });
    expect(
      [...r.skipped.keys()].some((n) => /patch merges and removes keys \(skipped: .*readValues is false\)/.test(n)),
    ).toBe(true);
  });

  it('a runner with no way to skip is refused, instead of reporting the test as passed', () => {
    expect(() => suite({ readValues: false }, { withSkip: false })).toThrow(/runner has no way to skip/);
  });
});

describe('scopes', () => {
  it('a flavor without scoping: asserts the default none scope and refuses scoped configs', async () => {
    const r = suite({ supportsScoping: false });
    const { names, failed } = await r.run('> scopes >');
    await r.cleanup();
    expect(names.map((n) => n.split(' > ').pop())).toEqual([
      'defaults to no scope',
      'refuses a scoped config, naming the problem',
      'takes an explicit none scope',
    ]);
    expect(failed).toEqual([]);
    expect(
      r.skipped.get(
        'conformance: memory > update and delete > deleteAll empties its own scope and reports how many it deleted',
      ),
    ).toMatch(/every secret of the backend domain/);
  });
});
