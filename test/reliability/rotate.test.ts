/**
 * `SecretsManager.rotate`, the first phase of `keystack secret rotate`: a compare-and-set merge
 * whose `previous` is exactly the version the write replaced, even when another writer landed
 * first; refused on a flavor without versions.
 */
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { SecretsManager } from '../../src/core/manager.js';
import { defineFlavor, type SecretsBackend } from '../../src/core/types.js';
import type { StoredSecret } from '../../src/secrets/content.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';

/** A versioned flavor over a list per name, whose first read may be preceded by another writer's write. */
function versioned(options: { versions?: boolean; otherWriter?: StoredSecret } = {}) {
  const rows = new Map<string, StoredSecret[]>();
  const retired = new Set<string>();
  let other = options.otherWriter;
  const write = (name: string, s: StoredSecret) => rows.set(name, [...(rows.get(name) ?? []), s]);
  const backend: SecretsBackend = {
    async create(name, s) {
      if (rows.has(name)) return false;
      write(name, s);
      return true;
    },
    async get(name) {
      return rows.get(name)?.at(-1) ?? null;
    },
    async list() {
      return [...rows.keys()];
    },
    async update(name, s) {
      if (!rows.has(name)) return false;
      write(name, s);
      return true;
    },
    async delete(name) {
      return rows.delete(name);
    },
    async read(name) {
      if (other) {
        write(name, other);
        other = undefined;
      }
      const all = rows.get(name);
      const last = all?.at(-1);
      return all && last ? { secret: last, version: String(all.length) } : null;
    },
    async replaceIf(name, s, version) {
      const all = rows.get(name);
      if (!all) return 'absent';
      if (String(all.length) !== version) return 'conflict';
      write(name, s);
      return 'updated';
    },
    ...(options.versions === false
      ? {}
      : {
          async versions(name: string) {
            const all = rows.get(name);
            return all
              ? all.map((_, i) => ({ id: String(i + 1), createdAt: null, labels: [], readable: true })).reverse()
              : null;
          },
          async getVersion(name: string, id: string) {
            const s = rows.get(name)?.[Number(id) - 1];
            return s && !retired.has(`${name}@${id}`)
              ? { id, createdAt: null, labels: [], readable: true, secret: s }
              : null;
          },
          writtenVersion: (name: string) => String(rows.get(name)?.length),
          async retireVersion(name: string, id: string) {
            retired.add(`${name}@${id}`);
            return true;
          },
        }),
  };
  const flavor = defineFlavor({
    name: 'listed',
    description: 'test double',
    supportsScoping: false,
    separator: '/',
    nameRule: { pattern: /[a-z0-9]+/, maxLength: 64, description: 'lowercase' },
    maxContentBytes: 65536,
    config: {},
    create: () => backend,
  });
  const manager = new SecretsManager({
    record: { uuid: randomUUID(), name: 'listed', flavor: 'listed', config: { scope: 'none' } },
    flavor,
    configDir: '/nonexistent',
    env: {},
    schemas: createSchemaRegistry(),
  });
  return { manager, rows };
}

describe('SecretsManager.rotate', () => {
  it('merges the new values as a new version and names the version it replaced', async () => {
    const { manager, rows } = versioned();
    await manager.register('db', { password: 'one', user: 'svc' });
    expect(await manager.rotate('db', { password: 'two' })).toEqual({ name: 'db', version: '2', previous: '1' });
    expect(rows.get('db')?.at(-1)?.values).toEqual({ password: 'two', user: 'svc' });
    expect((await manager.getVersion('db', 'previous')).values['password']).toBe('one');
  });

  it("names as previous the other writer's version its compare-and-set replaced, not the one it first saw", async () => {
    const theirs: StoredSecret = { schema: 'arbitrary', values: { password: 'theirs', user: 'svc' } };
    const { manager, rows } = versioned({ otherWriter: theirs });
    await manager.register('db', { password: 'one', user: 'svc' });
    const r = await manager.rotate('db', { password: 'two' });
    expect(r).toEqual({ name: 'db', version: '3', previous: '2' });
    expect(rows.get('db')?.map((s) => s.values['password'])).toEqual(['one', 'theirs', 'two']);
  });

  it('refuses without values, and on a flavor without versions, writing nothing', async () => {
    const { manager, rows } = versioned();
    await manager.register('db', { password: 'one' });
    await expect(manager.rotate('db', {})).rejects.toMatchObject({ code: 'input' });
    const plain = versioned({ versions: false });
    await plain.manager.register('db', { password: 'one' });
    await expect(plain.manager.rotate('db', { password: 'two' })).rejects.toMatchObject({ code: 'unsupported' });
    expect(plain.rows.get('db')).toHaveLength(1);
    expect(rows.get('db')).toHaveLength(1);
  });

  it('retireVersion refuses the current version when a read by id carries no labels', async () => {
    const { manager } = versioned();
    await manager.register('db', { password: 'one' });
    await manager.rotate('db', { password: 'two' });
    await expect(manager.retireVersion('db', '2')).rejects.toMatchObject({ code: 'input' });
    expect((await manager.getVersion('db', '2')).values['password']).toBe('two');
    await manager.retireVersion('db', '1');
    await expect(manager.getVersion('db', '1')).rejects.toMatchObject({ code: 'not_found' });
  });
});
