// The library side of export/import/copy on in-process local managers: a copy that reads back
// differently keeps its source, a write that fails part-way names what was written, and the
// dry run touches nothing.
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import local from '../../src/flavors/local/index.js';
import { SecretsManager } from '../../src/core/manager.js';
import type { FlavorDefinition, SecretsBackend } from '../../src/core/types.js';
import type { KeystackError } from '../../src/errors.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';
import { copySecrets, exportSecrets, importSecrets, renameSecret, TransferError } from '../../src/transfer/transfer.js';

const dir = mkdtempSync(join(tmpdir(), 'keystack-transfer-lib-'));
const schemas = createSchemaRegistry();
const env = { KEYSTACK_LOCAL_KEY: Buffer.alloc(32, 7).toString('base64') };

/** The local flavor with one backend method replaced. */
function wrapped(name: string, change: (be: SecretsBackend) => Partial<SecretsBackend>): FlavorDefinition<unknown> {
  const base = local as FlavorDefinition<unknown>;
  return {
    ...base,
    name,
    create: (ctx) => {
      const be = base.create(ctx);
      return { ...be, ...change(be) };
    },
  };
}

function manager(name: string, flavor: FlavorDefinition<unknown> = local): SecretsManager {
  return new SecretsManager({
    record: { uuid: randomUUID(), name, flavor: flavor.name, config: { path: join(dir, 'store.db') } },
    flavor,
    configDir: dir,
    env,
    schemas,
  });
}

describe('copySecrets', () => {
  it('keeps a source whose copy does not read back equal', async () => {
    const from = manager('from');
    await from.register('a', { k: 'v' });
    await from.register('b', { k: 'w' });
    // A backend that drops a key on the way in: the read-back differs from what was written.
    const lossy = manager(
      'lossy',
      wrapped('lossy', (be) => ({ create: (n, s) => be.create(n, n === 'b' ? { ...s, values: {} } : s) })),
    );
    const err = await copySecrets(from, lossy, { all: true, deleteSource: true }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransferError);
    expect((err as Error).message).toMatch(
      /the copy of secret 'b' read back from .* differs from the source, so the source was kept/,
    );
    expect((err as Error).message).not.toMatch(/\bw\b/);
    expect(await from.list()).toContain('b');
  });

  it('reports exactly what was written when a write fails part-way; a re-run finishes', async () => {
    const from = manager('from2');
    for (const n of ['a', 'b', 'c', 'd']) await from.register(n, { k: `value-of-${n}` });
    let fail = true;
    const flaky = manager(
      'flaky',
      wrapped('flaky', (be) => ({
        create: async (n, s) => {
          if (fail && n === 'c') throw new Error('boom');
          return be.create(n, s);
        },
      })),
    );
    const err = await copySecrets(from, flaky, { all: true }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransferError);
    expect((err as KeystackError).code).toBe('backend');
    expect((err as Error).message).toMatch(
      /copy stopped after writing 3 of 4 secrets; written \(complete\): a, b, d; not written: c/,
    );
    expect(await flaky.list()).toEqual(['a', 'b', 'd']);
    fail = false;
    const again = await copySecrets(from, flaky, { all: true });
    expect(again.plan.map((p) => `${p.name}:${p.action}`)).toEqual([
      'a:unchanged',
      'b:unchanged',
      'c:create',
      'd:unchanged',
    ]);
    expect(again.written).toEqual(['c']);
  });

  it('a dry run reads but writes nothing', async () => {
    const from = manager('from3');
    await from.register('x', { k: 'v' });
    const to = manager('to3');
    const report = await copySecrets(from, to, { names: ['x'], dryRun: true, deleteSource: true });
    expect(report).toEqual({
      plan: [{ name: 'x', action: 'create', schema: 'arbitrary', keys: ['k'] }],
      written: [],
      deleted: [],
      dryRun: true,
    });
    expect(await to.list()).toEqual([]);
    expect(await from.list()).toEqual(['x']);
  });
});

describe('exportSecrets and importSecrets', () => {
  it('round-trip through yaml with schemas, and import --dry-run writes nothing', async () => {
    const a = manager('a');
    await a.register('db', { user: 'u', password: 'p', ssl_verify_server_cert: 'true' }, { schema: 'mysql' });
    const { text, secrets } = await exportSecrets(a, { format: 'yaml', withSchema: true });
    expect(secrets).toEqual(['db']);
    const b = manager('b');
    expect((await importSecrets(b, { text, format: 'yaml', dryRun: true })).written).toEqual([]);
    expect(await b.list()).toEqual([]);
    expect((await importSecrets(b, { text, format: 'yaml' })).written).toEqual(['db']);
    expect((await exportSecrets(b, { format: 'yaml', withSchema: true })).text).toBe(text);
  });
});

describe('renameSecret', () => {
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => null,
      (e: unknown) => e as KeystackError,
    );

  it('keeps the schema and typed values, and deletes the old name only after the copy reads back', async () => {
    const m = manager('rn');
    await m.register('old', { user: 'u', ssl_verify_server_cert: 'true' }, { schema: 'mysql' });
    const report = await renameSecret(m, 'old', 'new');
    expect(report.plan).toEqual([
      { name: 'new', action: 'create', schema: 'mysql', keys: ['user', 'ssl_verify_server_cert'] },
    ]);
    expect(await m.list()).toEqual(['new']);
    const got = await m.get('new');
    expect(got.schema).toBe('mysql');
    expect(got.types).toMatchObject({ ssl_verify_server_cert: 'boolean' });
  });

  it('says that both exist when deleting the old name fails after the copy', async () => {
    const m = manager(
      'rn-nodelete',
      wrapped('nodelete', () => ({ delete: () => Promise.reject(new Error('backend said no')) })),
    );
    await m.register('old', { k: 'v' });
    const err = await failure(renameSecret(m, 'old', 'new'));
    expect(err).toBeInstanceOf(TransferError);
    expect(err?.message).toContain(
      "'new' was written and verified, but deleting 'old' failed: both 'old' and 'new' now exist",
    );
    expect(err?.message).toContain('backend said no');
    expect(err?.hint).toContain('keystack secret delete old -m rn-nodelete');
    expect((await m.list()).sort()).toEqual(['new', 'old']);
  });

  it('keeps the old name when the copy does not read back equal', async () => {
    const m = manager(
      'rn-lossy',
      wrapped('lossy2', (be) => ({ create: (n, s) => be.create(n, n === 'new' ? { ...s, values: {} } : s) })),
    );
    await m.register('old', { k: 'v' });
    const err = await failure(renameSecret(m, 'old', 'new'));
    expect(err?.code).toBe('conflict');
    expect(err?.message).toContain("so 'old' was kept; both exist");
    expect((await m.list()).sort()).toEqual(['new', 'old']);
  });

  it('refuses an existing new name and a dry run writes nothing', async () => {
    const m = manager('rn-exists');
    await m.register('old', { k: 'v' });
    await m.register('taken', { k: 'w' });
    const err = await failure(renameSecret(m, 'old', 'taken'));
    expect(err?.code).toBe('secret_exists');
    expect(err?.hint).toContain('keystack secret delete taken');
    expect((await renameSecret(m, 'old', 'fresh', { dryRun: true })).dryRun).toBe(true);
    expect((await m.list()).sort()).toEqual(['old', 'taken']);
    expect((await failure(renameSecret(m, 'old', 'old')))?.code).toBe('usage');
  });
});
