import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { SecretsManager } from '../../src/core/manager.js';
import { heldLease, stamp } from '../../src/flavors/shared/cas.js';
import { allPages } from '../../src/core/kit.js';
import { callLimits, createCaller, errorHeader, retryAfterMs } from '../../src/support/caller.js';
import { networkCode } from '../../src/support/scrub.js';
import { defineFlavor, type FlavorContext, type SecretsBackend } from '../../src/core/types.js';
import type { StoredSecret } from '../../src/secrets/content.js';
import { backendNames, looksScoped, type ScopeContext } from '../../src/secrets/scope.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';
import { importUserModule } from '../../src/support/modules.js';

const scope = (s: Partial<ScopeContext> = {}): ScopeContext => ({
  scope: 'global',
  componentUuid: 'u-1',
  componentName: 'm',
  prefix: 'keystack',
  ...s,
});
const any = () => true;

describe('backend names computed by the core', () => {
  it('joins the scope path with the separator, and parses back only names of this scope', () => {
    const n = backendNames(scope({ scope: 'component' }), '/', (x) => /^[a-z-]+$/.test(x));
    expect(n.prefix).toBe('keystack/component/u-1/');
    expect(n.full('db')).toBe('keystack/component/u-1/db');
    expect(n.parse('keystack/component/u-1/db')).toBe('db');
    expect(n.parse('keystack/component/u-2/db')).toBeNull();
    expect(n.parse('keystack/component/u-1/a/b')).toBeNull(); // not a valid name: another tool's object
    expect(n.parse('keystack/component/u-1/')).toBeNull();
  });

  it('in scope none, names that look scoped are reserved, with either separator', () => {
    const dash = backendNames(scope({ scope: 'none' }), '-', any);
    expect(dash.prefix).toBe('');
    expect(dash.parse('my-db')).toBe('my-db');
    expect(dash.parse('keystack-global-db')).toBeNull();
    expect(dash.parse('KEYSTACK-Namespace-team-db')).toBeNull();
    expect(looksScoped('keystack', 'keystack-component-x', '-')).toBe(true);
    expect(looksScoped('keystack', 'keystack-other-x', '-')).toBe(false);
  });

  it('a flavor declares only a separator, and its backend gets names built from it', async () => {
    let seen: FlavorContext<unknown>['names'] | undefined;
    const flavor = defineFlavor({
      ...memoryFlavor(new Map()),
      separator: '-',
      create: (ctx) => ((seen = ctx.names), memoryBackend(new Map())),
    });
    const m = manager(flavor, { scope: 'namespace', namespace: 'team' });
    await m.list();
    expect(seen?.full('db')).toBe('keystack-namespace-team-db');
  });
});

describe('deleteAll by default: list + delete', () => {
  it('counts only the deletes that found their secret, at most eight at a time', async () => {
    const store = new Map<string, StoredSecret>();
    let inFlight = 0;
    let most = 0;
    const flavor = memoryFlavor(store, {
      async delete(name) {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        // Half of them "vanish" before their delete, as under a concurrent deleter.
        return name.endsWith('0') ? false : store.delete(name);
      },
    });
    const m = manager(flavor);
    for (let i = 0; i < 30; i++) await m.register(`s${i}`, { k: 'v' });
    expect(await m.deleteAll()).toBe(27); // s0, s10, s20 report absent
    expect(most).toBe(8);
  });

  it('stops at the first failure and reports it; a backend with a bulk call keeps it', async () => {
    const store = new Map<string, StoredSecret>();
    let calls = 0;
    const failing = memoryFlavor(store, {
      async delete() {
        calls++;
        throw new Error('backend down');
      },
    });
    const m = manager(failing);
    for (let i = 0; i < 20; i++) await m.register(`s${i}`, { k: 'v' });
    await expect(m.deleteAll()).rejects.toMatchObject({
      code: 'backend',
      message: expect.stringContaining('backend down'),
    });
    expect(calls).toBe(8);
    const bulk = manager(memoryFlavor(new Map(), { deleteAll: async () => 42 }));
    expect(await bulk.deleteAll()).toBe(42);
  });
});

describe('the shared caller', () => {
  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(retryAfterMs('60')).toBe(60_000);
    expect(retryAfterMs('1.5')).toBe(1500);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });

  it('documents its limits and refuses nonsense', () => {
    expect(callLimits({})).toEqual({ requestTimeoutMs: 30_000, retryBudgetMs: 60_000 });
    expect(callLimits({ KEYSTACK_REQUEST_TIMEOUT_MS: '500', KEYSTACK_RETRY_BUDGET_MS: '2000' })).toEqual({
      requestTimeoutMs: 500,
      retryBudgetMs: 2000,
    });
    expect(() => callLimits({ KEYSTACK_REQUEST_TIMEOUT_MS: '-1' })).toThrow(/KEYSTACK_REQUEST_TIMEOUT_MS/);
  });

  it('finds network codes through fetch-style causes', () => {
    const fetchFailed = Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
    });
    expect(networkCode(Object.assign(new Error('HttpError'), { status: 500, cause: fetchFailed }))).toBe(
      'ECONNREFUSED',
    );
    expect(networkCode(new DOMException('aborted', 'TimeoutError'))).toBe('ETIMEDOUT');
    expect(networkCode(new Error('plain'))).toBeUndefined();
  });

  it('honours a Retry-After longer than the old 5 s cap when the budget allows it', async () => {
    let attempts = 0;
    const caller = createCaller({
      flavor: 'x',
      env: { KEYSTACK_RETRY_BUDGET_MS: '10000' },
      classify: { throttled: () => 1200, unreachableHint: '' },
    });
    const start = Date.now();
    const out = await caller.run('get', 'n', async () => {
      if (attempts++ === 0) throw new Error('throttled');
      return 'ok';
    });
    expect(out).toBe('ok');
    expect(Date.now() - start).toBeGreaterThanOrEqual(1150);
  });

  it('a wait beyond the budget fails at once and says how long the server asked for', async () => {
    let attempts = 0;
    const caller = createCaller({
      flavor: 'x',
      env: { KEYSTACK_RETRY_BUDGET_MS: '1000' },
      classify: {
        throttled: () => 60_000,
        explain: () => ({ reason: 'X kept throttling', hint: 'Wait.' }),
        unreachableHint: '',
      },
    });
    const start = Date.now();
    const err = await caller
      .run('get', 'n', async () => {
        attempts++;
        throw new Error('throttled');
      })
      .catch((e: unknown) => e);
    expect(Date.now() - start).toBeLessThan(500);
    expect(attempts).toBe(1);
    expect(err).toMatchObject({
      code: 'backend',
      message: expect.stringMatching(/asked to wait 60 s.*retry budget of 1 s/),
      hint: expect.stringContaining('KEYSTACK_RETRY_BUDGET_MS'),
    });
  });
});

describe('tsx is optional', () => {
  it('a .ts module without tsx installed is a ConfigError naming the package', async () => {
    const missing = () =>
      Promise.reject(Object.assign(new Error("Cannot find package 'tsx'"), { code: 'ERR_MODULE_NOT_FOUND' }));
    await expect(importUserModule('/nowhere/flavor.ts', '/nowhere', missing)).rejects.toMatchObject({
      code: 'config',
      message: expect.stringContaining("needs the npm package 'tsx'"),
      hint: expect.stringContaining('npm install tsx'),
    });
  });
});

function manager(flavor: ReturnType<typeof memoryFlavor>, cfg: Record<string, unknown> = {}): SecretsManager {
  return new SecretsManager({
    record: { uuid: randomUUID(), name: 'mem', flavor: flavor.name, config: { scope: 'global', ...cfg } },
    flavor,
    configDir: '/nonexistent',
    env: {},
    schemas: createSchemaRegistry(),
  });
}

function memoryBackend(store: Map<string, StoredSecret>, over: Partial<SecretsBackend> = {}): SecretsBackend {
  return {
    async create(name, secret) {
      if (store.has(name)) return false;
      store.set(name, secret);
      return true;
    },
    get: async (name) => store.get(name) ?? null,
    list: async () => [...store.keys()],
    async update(name, secret) {
      if (!store.has(name)) return false;
      store.set(name, secret);
      return true;
    },
    delete: async (name) => store.delete(name),
    ...over,
  };
}

function memoryFlavor(store: Map<string, StoredSecret>, over: Partial<SecretsBackend> = {}) {
  return defineFlavor({
    name: 'mem',
    description: 'in memory',
    supportsScoping: true,
    nameRule: { pattern: /[a-z0-9]+/, maxLength: 64, description: 'lowercase' },
    maxContentBytes: 1024,
    config: {},
    create: () => memoryBackend(store, over),
  });
}

describe('protocol helpers shared by the flavors', () => {
  it('errorHeader reads Headers-like (Azure SDK) and plain-record (Octokit) error headers alike', () => {
    const azure = { response: { headers: { get: (n: string) => (n === 'retry-after' ? '3' : undefined) } } };
    const octokit = { response: { headers: { 'retry-after': 7, 'x-list': ['a', 'b'] } } };
    expect(errorHeader(azure, 'retry-after')).toBe('3');
    expect(errorHeader(octokit, 'retry-after')).toBe('7');
    expect(errorHeader(octokit, 'x-list')).toBe('a, b');
    expect(errorHeader(octokit, 'missing')).toBeUndefined();
    expect(errorHeader(new Error('no response'), 'retry-after')).toBeUndefined();
  });

  it('allPages follows next tokens until one is empty or absent', async () => {
    const pages: Record<string, { items: number[]; next: string | undefined }> = {
      start: { items: [1, 2], next: 'b' },
      b: { items: [3], next: '' },
    };
    const seen: (string | undefined)[] = [];
    const all = await allPages(
      async (token) => (seen.push(token), pages[token ?? 'start'] ?? { items: [], next: undefined }),
    );
    expect(all).toEqual([1, 2, 3]);
    expect(seen).toEqual([undefined, 'b']);
  });

  it('a lease is held by its id until it is leaseMs old', () => {
    expect(heldLease(stamp('7'), 10_000)).toBe('7');
    expect(heldLease(`7@${Date.now() - 20_000}`, 10_000)).toBeNull();
    expect(heldLease(undefined, 10_000)).toBeNull();
    expect(heldLease('no-stamp', 10_000)).toBeNull();
  });
});
