/**
 * The operation sequence that every calls-per-operation benchmark measures, so that the flavors'
 * figures are comparable. A flavor's script supplies only how it builds a manager and how it
 * counts requests (a proxy, wrapped SDK methods, a double's request log).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { SecretsManager } from '../src/core/manager.js';

export interface CallsHarness {
  flavor: string;
  /** A manager of the flavor; the same uuid gives the same component scope. */
  manager(uuid?: string): SecretsManager;
  /** How many backend requests `fn` made. */
  count(fn: () => Promise<unknown>): Promise<number>;
  /** Run on each new manager before measuring it (connections, auth challenges). */
  warm?(m: SecretsManager): Promise<unknown>;
  /** The manager that reads values (GitHub: one that runs as inside Actions). */
  reader?(uuid: string, name: string): SecretsManager;
  /** Measure `update` on a manager that has read nothing yet (Vault caches versions it read). */
  coldUpdate?: boolean;
}

export async function measureCalls(h: CallsHarness): Promise<Record<string, unknown>> {
  const name = () => `b${randomBytes(6).toString('hex')}`;
  const fresh = async (uuid: string = randomUUID()) => {
    const m = h.manager(uuid);
    await h.warm?.(m);
    return m;
  };
  const fill = async (m: SecretsManager, n: number) => {
    const names = Array.from({ length: n }, name);
    for (let i = 0; i < n; i += 25) await Promise.all(names.slice(i, i + 25).map((x) => m.register(x, { k: 'v' })));
  };
  const reader = async (uuid: string, s: string) => (h.reader ? h.reader(uuid, s) : fresh(uuid));

  const uuid = randomUUID();
  const m = await fresh(uuid);
  const s = name();
  const out: Record<string, unknown> = { flavor: h.flavor };
  // A manager's first write may fetch something once (GitHub's public key): the second shows it.
  out['register'] = await h.count(() => m.register(s, { user: 'u', password: 'p' }));
  out['register_warm'] = await h.count(() => m.register(name(), { user: 'u', password: 'p' }));
  // Readers are made (and warmed) before each count, and after the writes they must see.
  let r = await reader(uuid, s);
  out['get'] = await h.count(() => r.get(s));
  const updater = h.coldUpdate ? await fresh(uuid) : m;
  out['update'] = await h.count(() => updater.update(s, { user: 'u', password: 'q' }, { schema: 'arbitrary' }));
  r = await reader(uuid, s);
  out['update_schema_unknown'] = await h.count(() => r.update(s, { user: 'u', password: 'r' }));
  r = await reader(uuid, s);
  out['patch'] = await h.count(() => r.patch(s, { set: { password: 's' } }));
  out['delete'] = await h.count(() => m.delete(s));
  await m.deleteAll();
  for (const n of [100, 250]) {
    const lm = await fresh();
    await fill(lm, n);
    out[`list_${n}`] = await h.count(() => lm.list());
    await lm.deleteAll();
    await lm.close();
  }
  const dm = await fresh();
  await fill(dm, 10);
  out['delete_all_10'] = await h.count(() => dm.deleteAll());
  await Promise.all([m, dm].map((x) => x.close()));
  return out;
}

/** A request counter for scripts that hook the client: call `hit()` once per request. */
export function tally(): { hit: () => void; count: (fn: () => Promise<unknown>) => Promise<number> } {
  let n = 0;
  return {
    hit: () => {
      n++;
    },
    async count(fn) {
      n = 0;
      await fn();
      return n;
    },
  };
}
