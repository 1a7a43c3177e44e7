/**
 * Concurrent read-modify-writes (issue 9, section 1): merges of one secret from many processes at
 * once, and concurrent config-store updates of one secrets manager. Every change must land, or
 * the process whose change was lost must fail (exit non-zero); never a silent loss.
 */
import { describe, expect, it, vi } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretsManager } from '../../src/core/manager.js';
import { defineFlavor } from '../../src/core/types.js';
import type { StoredSecret } from '../../src/secrets/content.js';
import { ConflictError } from '../../src/errors.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';
import { Keystack } from '../../src/stack/client.js';
import { cli, cliAsync, tempEnv, type CliEnv, type CliResult } from '../support/cli.js';
import { requireEnv } from '../support/fake-http.js';

const WRITERS = 8;

interface Target {
  flavor: string;
  /** The backend has a compare-and-set, so every writer must succeed. */
  allLand: boolean;
  /** `secrets-manager register` arguments (after the name); none: the default local manager. */
  register?: () => string[];
  env?: () => Record<string, string>;
}

const vaultEnv = () => ({ VAULT_TOKEN: requireEnv('BAO_TOKEN', 'the OpenBao dev server root token') });
const awsEnv = () => ({
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_EC2_METADATA_DISABLED: 'true',
});

const TARGETS: Target[] = [
  { flavor: 'local', allLand: true },
  {
    flavor: 'vault',
    allLand: true,
    register: () => ['--flavor=vault', `--url=${requireEnv('BAO_ADDR', 'the OpenBao dev server')}`],
    env: vaultEnv,
  },
  {
    flavor: 'aws',
    // Secrets Manager has no conditional write; keystack makes one from ClientRequestToken, but
    // the contract only promises that a lost change is never reported as a success.
    allLand: false,
    register: () => [
      '--flavor=aws',
      '--region_name=us-east-1',
      `--endpoint_url=${requireEnv('AWS_SM_ENDPOINT', 'the moto server')}`,
    ],
    env: awsEnv,
  },
];

/** A config dir whose active stack uses a fresh manager of the flavor (component scope: its own UUID). */
function setUp(t: Target): CliEnv {
  const e = tempEnv(t.env?.() ?? {});
  if (t.register) {
    const sm = `sm_${t.flavor}`;
    const r = cli(e, ['secrets-manager', 'register', sm, ...t.register()]);
    expect(r.status, r.stderr).toBe(0);
    const s = cli(e, ['stack', 'register', `st_${t.flavor}`, '-x', sm, '--set']);
    expect(s.status, s.stderr).toBe(0);
  }
  return e;
}

function keysOf(e: CliEnv, name: string): string[] {
  const r = cli(e, ['--json', 'secret', 'get', name]);
  expect(r.status, r.stderr).toBe(0);
  return Object.keys((JSON.parse(r.stdout) as { values: Record<string, string> }).values);
}

/** Checks the outcome of concurrent writers; `changed(i)` says whether writer i's change is visible. */
function expectNoSilentLoss(t: Target, results: CliResult[], changed: (i: number) => boolean): void {
  const landed = results.filter((_, i) => changed(i)).length;
  const silent = results.flatMap((r, i) => (r.status === 0 && !changed(i) ? [i] : []));
  const detail = `${landed} of ${results.length} changes survived; writers that exited 0 but lost their change: [${silent.join(', ')}]; stderr: ${results
    .map((r) => r.stderr.trim())
    .filter(Boolean)
    .join(' | ')}`;
  expect(silent, detail).toEqual([]);
  if (t.allLand) {
    expect(landed, detail).toBe(results.length);
    expect(
      results.map((r) => r.status),
      detail,
    ).toEqual(results.map(() => 0));
  }
  // A writer that failed says why in a clean error (a conflict, or a backend failure such as an
  // overloaded emulator's HTTP 500), never a crash.
  for (const r of results) {
    if (r.status === 0) continue;
    expect(r.status, detail).toBe(1);
    expect(r.stderr, detail).toMatch(/\S/);
    expect(r.stderr, detail).not.toMatch(/\n\s+at /);
  }
}

describe.each(TARGETS)('concurrent merges of one secret: $flavor', (t) => {
  it(`${WRITERS} processes each adding a key with \`secret update --KEY=…\`: no change is lost silently`, async () => {
    const e = setUp(t);
    const name = `shared${randomBytes(3).toString('hex')}`;
    expect(cli(e, ['secret', 'register', name, '--base=0']).status).toBe(0);
    const results = await Promise.all(
      Array.from({ length: WRITERS }, (_, i) => cliAsync(e, ['secret', 'update', name, `--key${i}=val${i}`])),
    );
    const keys = keysOf(e, name);
    expect(keys).toContain('base');
    expectNoSilentLoss(t, results, (i) => keys.includes(`key${i}`));
    cli(e, ['secret', 'delete', name, '-y']);
  });

  it(`${WRITERS} processes, half adding and half removing keys (\`--remove-key\`): no change is lost silently`, async () => {
    const e = setUp(t);
    const name = `shared${randomBytes(3).toString('hex')}`;
    const half = WRITERS / 2;
    const initial = Array.from({ length: half }, (_, i) => `--old${i}=x`);
    expect(cli(e, ['secret', 'register', name, '--base=0', ...initial]).status).toBe(0);
    const results = await Promise.all(
      Array.from({ length: WRITERS }, (_, i) =>
        cliAsync(
          e,
          i < half
            ? ['secret', 'update', name, `--new${i}=v`]
            : ['secret', 'update', name, '--remove-key', `old${i - half}`],
        ),
      ),
    );
    const keys = keysOf(e, name);
    expectNoSilentLoss(t, results, (i) => (i < half ? keys.includes(`new${i}`) : !keys.includes(`old${i - half}`)));
    cli(e, ['secret', 'delete', name, '-y']);
  });
});

describe.each(TARGETS)('concurrent patch from one process (library): $flavor', (t) => {
  it(`${WRITERS} patches of one secret through one manager all land`, async () => {
    const e = setUp(t);
    const ks = new Keystack({ configDir: e.env['KEYSTACK_CONFIG_DIR'] ?? '', env: e.env });
    try {
      const sm = await ks.secretsManager();
      const name = `lib${randomBytes(3).toString('hex')}`;
      await sm.register(name, { base: '0' });
      const outcomes = await Promise.allSettled(
        Array.from({ length: WRITERS }, (_, i) => sm.patch(name, { set: { [`key${i}`]: `val${i}` } })),
      );
      const values = (await sm.get(name)).values;
      const landed = Object.keys(values).filter((k) => k.startsWith('key')).length;
      // One manager, one process: even aws has no other writer to lose against, so all land.
      expect(
        outcomes.map((o) => o.status),
        `${landed} of ${WRITERS} survived`,
      ).toEqual(outcomes.map(() => 'fulfilled'));
      expect(values).toEqual({
        base: '0',
        ...Object.fromEntries(Array.from({ length: WRITERS }, (_, i) => [`key${i}`, `val${i}`])),
      });
      await sm.delete(name);
    } finally {
      await ks.close();
    }
  });
});

describe('concurrent config-store updates', () => {
  it('parallel `secrets-manager update` of different fields of one manager lose no change', async () => {
    const e = tempEnv(awsEnv());
    expect(cli(e, ['secrets-manager', 'register', 'cfg', '--flavor=aws', '--region_name=r0']).status).toBe(0);
    const fields = ['region_name', 'endpoint_url', 'profile'];
    const value = (field: string, round: number) =>
      field === 'endpoint_url' ? `http://127.0.0.1:${9000 + round}` : `${field}${round}`;
    const lost: string[] = [];
    const rounds = 6;
    for (let round = 1; round <= rounds; round++) {
      // --force: the point is the config store, not the "holds secrets" check (which needs the backend).
      const rs = await Promise.all(
        fields.map((f) => cliAsync(e, ['secrets-manager', 'update', 'cfg', `--${f}=${value(f, round)}`, '--force'])),
      );
      for (const r of rs) expect(r.status, r.stderr).toBe(0);
      const config = (
        JSON.parse(cli(e, ['--json', 'secrets-manager', 'describe', 'cfg']).stdout) as {
          config: Record<string, unknown>;
        }
      ).config;
      for (const f of fields) if (config[f] !== value(f, round)) lost.push(`round ${round}: ${f}`);
    }
    expect(lost, `${lost.length} of ${rounds * fields.length} changes lost`).toEqual([]);
  });
});

/** A flavor over a Map whose compare-and-set answers are scripted, to drive patch's loop exactly. */
function scripted(answer: (attempt: number) => 'updated' | 'conflict' | 'absent' | 'race') {
  const rows = new Map<string, { secret: StoredSecret; version: number }>();
  const calls = { read: 0, replaceIf: 0, written: [] as StoredSecret[] };
  const flavor = defineFlavor({
    name: 'scripted',
    description: 'test double',
    supportsScoping: false,
    separator: '/',
    nameRule: { pattern: /[a-z0-9]+/, maxLength: 64, description: 'lowercase' },
    maxContentBytes: 65536,
    config: {},
    create: () => ({
      async create(name, secret) {
        if (rows.has(name)) return false;
        rows.set(name, { secret, version: 1 });
        return true;
      },
      async get(name) {
        return rows.get(name)?.secret ?? null;
      },
      async list() {
        return [...rows.keys()];
      },
      async update(name, secret) {
        const row = rows.get(name);
        if (row) rows.set(name, { secret, version: row.version + 1 });
        return row !== undefined;
      },
      async delete(name) {
        return rows.delete(name);
      },
      async deleteAll() {
        const n = rows.size;
        rows.clear();
        return n;
      },
      async read(name) {
        calls.read++;
        const row = rows.get(name);
        return row ? { secret: row.secret, version: String(row.version) } : null;
      },
      async replaceIf(name, secret, version) {
        calls.replaceIf++;
        calls.written.push(secret);
        const a = answer(calls.replaceIf);
        const row = rows.get(name);
        if (a === 'race' && row) {
          // Another writer lands a change just before this write: the version moves on.
          rows.set(name, {
            secret: { ...row.secret, values: { ...row.secret.values, [`other${calls.replaceIf}`]: 'x' } },
            version: row.version + 1,
          });
          return 'conflict';
        }
        if (a === 'updated' && row && String(row.version) === version)
          rows.set(name, { secret, version: row.version + 1 });
        return a === 'race' ? 'conflict' : a;
      },
    }),
  });
  const manager = new SecretsManager({
    record: { uuid: randomUUID(), name: 'scripted', flavor: 'scripted', config: { scope: 'none' } },
    flavor: flavor,
    configDir: '/nonexistent',
    env: {},
    schemas: createSchemaRegistry(),
  });
  return { manager, calls, rows };
}

describe("patch's compare-and-set loop", () => {
  it("on a conflict it re-reads and applies the change on top of the other writer's, never writing the stale result again", async () => {
    const { manager, calls, rows } = scripted((n) => (n <= 2 ? 'race' : 'updated'));
    await manager.register('s', { a: '1' });
    await manager.patch('s', { set: { mine: 'y' } });
    expect(calls.read).toBe(3);
    expect(calls.written.map((w) => Object.keys(w.values).sort())).toEqual([
      ['a', 'mine'],
      ['a', 'mine', 'other1'],
      ['a', 'mine', 'other1', 'other2'],
    ]);
    expect(rows.get('s')?.secret.values).toEqual({ a: '1', other1: 'x', other2: 'x', mine: 'y' });
  });

  it('gives up after 20 conflicts with a ConflictError (exit code 1 in the CLI), having written nothing', async () => {
    const { manager, calls, rows } = scripted(() => 'conflict');
    await manager.register('s', { a: '1' });
    const err = await manager.patch('s', { set: { b: '2' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).code).toBe('conflict');
    expect((err as ConflictError).hint).toMatch(/again/);
    expect(calls.replaceIf).toBe(20);
    expect(rows.get('s')?.secret.values).toEqual({ a: '1' });
  });

  it("'absent' from replaceIf, or a secret gone at the re-read, is SecretNotFoundError", async () => {
    const gone = scripted(() => 'absent');
    await gone.manager.register('s', { a: '1' });
    await expect(gone.manager.patch('s', { set: { b: '2' } })).rejects.toMatchObject({ code: 'secret_not_found' });
    const missing = scripted(() => 'updated');
    await expect(missing.manager.patch('nothere', { set: { b: '2' } })).rejects.toMatchObject({
      code: 'secret_not_found',
    });
    expect(missing.calls.replaceIf).toBe(0);
  });

  it('removing a key that is not there is the usual validation error, before any write', async () => {
    const { manager, calls } = scripted(() => 'updated');
    await manager.register('s', { a: '1' });
    await expect(manager.patch('s', { remove: ['zz'] })).rejects.toMatchObject({ code: 'schema_validation' });
    await expect(manager.patch('s', { remove: ['constructor'] })).rejects.toMatchObject({ code: 'schema_validation' });
    expect(calls.replaceIf).toBe(0);
  });
});

describe('aws: compare-and-set through ClientRequestToken', () => {
  // On AWS this happens after a rollback (AWSCURRENT moved back to a version whose successor
  // exists). moto does not move GetSecretValue's version on UpdateSecretVersionStage, so the test
  // stages a version under the successor's id by hand instead.
  it('when the successor id of the current version is taken but that version is still current, the next id is used', async () => {
    const endpoint = requireEnv('AWS_SM_ENDPOINT', 'the moto server');
    const { SecretsManagerClient, GetSecretValueCommand, PutSecretValueCommand } = await import(
      '@aws-sdk/client-secrets-manager'
    );
    const raw = new SecretsManagerClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    const { default: aws, successorToken } = await import('../../src/flavors/aws.js');
    const sm = new SecretsManager({
      record: {
        uuid: randomUUID(),
        name: 'aws_cas',
        flavor: 'aws',
        config: { region_name: 'us-east-1', endpoint_url: endpoint, scope: 'none' },
      },
      flavor: aws,
      configDir: '/nonexistent',
      env: awsEnv(),
      schemas: createSchemaRegistry(),
    });
    const name = `rb${randomBytes(4).toString('hex')}`;
    try {
      await sm.register(name, { a: '1' });
      const first = (await raw.send(new GetSecretValueCommand({ SecretId: name }))).VersionId ?? '';
      await raw.send(
        new PutSecretValueCommand({
          SecretId: name,
          SecretString: '{"old":"successor"}',
          ClientRequestToken: successorToken(first),
          VersionStages: ['STAGED'],
        }),
      );
      await sm.patch(name, { set: { b: '2' } });
      const after = await raw.send(new GetSecretValueCommand({ SecretId: name }));
      expect(after.VersionId).toBe(successorToken(first, 1));
      expect((await sm.get(name)).values).toEqual({ a: '1', b: '2' });
    } finally {
      await sm.delete(name).catch(() => undefined);
      await sm.close();
      raw.destroy();
    }
  });
});

describe('secrets-manager update: the holds-secrets check and the write', () => {
  it('a change made by another process while the check runs is kept, and the check is redone on the new record', async () => {
    const e = tempEnv();
    const dir = e.env['KEYSTACK_CONFIG_DIR'] ?? '';
    expect(cli(e, ['secrets-manager', 'register', 'm', '--flavor=local', '--scope=component']).status).toBe(0);
    const ks = new Keystack({ configDir: dir, env: {} });
    const other = new Keystack({ configDir: dir, env: {} });
    const list = vi.spyOn(SecretsManager.prototype, 'list');
    let interfered = false;
    list.mockImplementation(async function (this: SecretsManager) {
      if (!interfered) {
        interfered = true;
        // Another writer changes another field of the same manager in the middle of the check.
        await other.updateSecretsManager('m', { scope_prefix: 'other' }, { force: true });
      }
      return [];
    });
    try {
      const rec = await ks.updateSecretsManager('m', { scope: 'global' });
      expect(rec.config).toMatchObject({ scope: 'global', scope_prefix: 'other' });
      expect(ks.store.getComponent('secrets_manager', 'm').config).toMatchObject({
        scope: 'global',
        scope_prefix: 'other',
      });
      // Once for the record first read, once more for the record the other writer left.
      expect(list).toHaveBeenCalledTimes(2);
    } finally {
      list.mockRestore();
      await ks.close();
      await other.close();
    }
  });
});

describe('keystack secret update when other writers keep winning', () => {
  it('exits 1 with a one-line conflict error and a hint, and no stack trace', () => {
    const e = tempEnv();
    const dir = mkdtempSync(join(tmpdir(), 'keystack-busy-flavor-'));
    const module = join(dir, 'busy.mjs');
    // A backend on which every compare-and-set loses, as if another writer always got there first.
    writeFileSync(
      module,
      `export default { kind: 'keystack.flavor', name: 'busy', description: 'always conflicts', supportsScoping: false, separator: '/',
      nameRule: { pattern: /[a-z]+/, maxLength: 20, description: 'lowercase' }, maxContentBytes: 4096, capabilities: { readValues: true }, dependencies: {}, isLocal: true, config: {},
      create: () => ({
        async create() { return true; }, async get() { return { schema: 'arbitrary', values: { a: '1' } }; }, async list() { return ['s']; },
        async update() { return true; }, async delete() { return true; }, async deleteAll() { return 0; },
        async read() { return { secret: { schema: 'arbitrary', values: { a: '1' } }, version: '1' }; },
        async replaceIf() { return 'conflict'; },
      }) };\n`,
    );
    expect(cli(e, ['secrets-manager', 'flavor', 'register', module]).status).toBe(0);
    expect(cli(e, ['secrets-manager', 'register', 'b', '--flavor=busy', '--scope=none']).status).toBe(0);
    expect(cli(e, ['stack', 'register', 'st', '-x', 'b', '--set']).status).toBe(0);
    const r = cli(e, ['secret', 'update', 's', '--b=secretvalue2']);
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/secret 's' .* was changed by another writer .*it was not applied/);
    expect(lines[1]).toMatch(/Hint: .*again/);
    expect(r.stderr).not.toContain('secretvalue2');
    const json = cli(e, ['--json', 'secret', 'update', 's', '--b=secretvalue2']);
    expect(json.status).toBe(1);
    expect(JSON.parse(json.stdout || json.stderr)).toMatchObject({ error: { code: 'conflict' } });
  });
});
