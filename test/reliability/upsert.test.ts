/**
 * `SecretsManager.upsert` (`keystack secret set`): create, or merge into what exists, and end
 * right when another writer creates or deletes the secret between the look and the write.
 */
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { SecretsManager } from '../../src/core/manager.js';
import { defineFlavor } from '../../src/core/types.js';
import type { StoredSecret } from '../../src/secrets/content.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';

interface Hooks {
  /** Runs before each create; what another writer does just then. */
  beforeCreate?: (rows: Map<string, StoredSecret>, n: number) => void;
  /** Runs before each read (the look of a merge). */
  beforeRead?: (rows: Map<string, StoredSecret>, n: number) => void;
}

/** A flavor over a Map, with or without compare-and-set, whose other writers are scripted. */
function racing(hooks: Hooks, cas = true) {
  const rows = new Map<string, StoredSecret>();
  const calls = { create: 0, read: 0 };
  const versions = new Map<string, number>();
  const bump = (name: string) => versions.set(name, (versions.get(name) ?? 0) + 1);
  const flavor = defineFlavor({
    name: 'racing',
    description: 'test double',
    supportsScoping: false,
    separator: '/',
    nameRule: { pattern: /[a-z0-9]+/, maxLength: 64, description: 'lowercase' },
    maxContentBytes: 65536,
    config: {},
    create: () => ({
      async create(name, secret) {
        hooks.beforeCreate?.(rows, ++calls.create);
        if (rows.has(name)) return false;
        rows.set(name, secret);
        bump(name);
        return true;
      },
      async get(name) {
        hooks.beforeRead?.(rows, ++calls.read);
        return rows.get(name) ?? null;
      },
      async list() {
        return [...rows.keys()];
      },
      async update(name, secret) {
        if (!rows.has(name)) return false;
        rows.set(name, secret);
        bump(name);
        return true;
      },
      async delete(name) {
        return rows.delete(name);
      },
      ...(cas
        ? {
            async read(name: string) {
              hooks.beforeRead?.(rows, ++calls.read);
              const secret = rows.get(name);
              return secret ? { secret, version: String(versions.get(name)) } : null;
            },
            async replaceIf(name: string, secret: StoredSecret, version: string) {
              if (!rows.has(name)) return 'absent' as const;
              if (String(versions.get(name)) !== version) return 'conflict' as const;
              rows.set(name, secret);
              bump(name);
              return 'updated' as const;
            },
          }
        : {}),
    }),
  });
  const manager = new SecretsManager({
    record: { uuid: randomUUID(), name: 'racing', flavor: 'racing', config: { scope: 'none' } },
    flavor,
    configDir: '/nonexistent',
    env: {},
    schemas: createSchemaRegistry(),
  });
  return { manager, rows, calls };
}

const theirs: StoredSecret = { schema: 'arbitrary', values: { other: 'x', mine: 'old' } };

describe.each([true, false])('upsert (compare-and-set: %s)', (cas) => {
  it('creates a missing secret, with the schema given', async () => {
    const { manager, rows } = racing({}, cas);
    const r = await manager.upsert(
      's',
      { set: { aws_access_key_id: 'a', aws_secret_access_key: 'b' } },
      { schema: 'aws' },
    );
    expect(r.created).toBe(true);
    expect(rows.get('s')?.schema).toBe('aws');
  });

  it('merges into an existing secret and removes keys', async () => {
    const { manager, rows } = racing({}, cas);
    await manager.register('s', { a: '1', b: '2' });
    const r = await manager.upsert('s', { set: { c: '3' }, remove: ['a'] });
    expect(r.created).toBe(false);
    expect(rows.get('s')?.values).toEqual({ b: '2', c: '3' });
  });

  it('merges into the secret another writer created between its look and its create', async () => {
    const { manager, rows, calls } = racing(
      { beforeCreate: (r, n) => (n === 1 ? void r.set('s', theirs) : undefined) },
      cas,
    );
    const r = await manager.upsert('s', { set: { mine: 'new' } });
    expect(r.created).toBe(false);
    expect(calls.create).toBe(1);
    expect(rows.get('s')?.values).toEqual({ other: 'x', mine: 'new' });
  });

  it('creates the secret another writer deleted between its create attempt and its merge', async () => {
    const { manager, rows } = racing(
      {
        beforeCreate: (r, n) => (n === 1 ? void r.set('s', theirs) : undefined),
        beforeRead: (r, n) => (n === 2 ? void r.delete('s') : undefined),
      },
      cas,
    );
    const r = await manager.upsert('s', { set: { mine: 'new' } });
    expect(r.created).toBe(true);
    expect(rows.get('s')?.values).toEqual({ mine: 'new' });
  });

  it('refuses a schema other than the existing secret has, having written nothing', async () => {
    const { manager, rows } = racing({}, cas);
    await manager.register('s', { a: '1' });
    await expect(manager.upsert('s', { set: { a: '2' } }, { schema: 'aws' })).rejects.toThrow(
      "secret 's' exists with schema 'arbitrary', not 'aws'",
    );
    expect(rows.get('s')?.values).toEqual({ a: '1' });
  });
});
