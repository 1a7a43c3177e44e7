/**
 * The config store: registered components, stacks, the active stack and plugin modules, in one
 * SQLite file in the config directory. SQLite gives atomic writes and safe concurrent CLI calls
 * for free; every multi-step change runs in one immediate transaction.
 */
import { refuseInStepProcess } from '../support/step-process.js';
import type Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { ConfigError, ExistsError, InUseError, NotFoundError } from '../errors.js';
import { openShared, retryBusy } from '../support/sqlite.js';
import { defaultTrustWarn, type TrustWarn } from '../support/trust.js';

export const COMPONENT_TYPES = [
  'orchestrator',
  'artifact_store',
  'secrets_manager',
  'container_registry',
  'step_operator',
] as const;
export type ComponentType = (typeof COMPONENT_TYPES)[number];

/** CLI spelling of each component type. */
export const COMPONENT_LABEL: Record<ComponentType, string> = {
  orchestrator: 'orchestrator',
  artifact_store: 'artifact-store',
  secrets_manager: 'secrets-manager',
  container_registry: 'container-registry',
  step_operator: 'step-operator',
};

/** `--json` keys are camelCase (docs/cli.md), so a stack's components are keyed this way there. */
export const COMPONENT_KEY = {
  orchestrator: 'orchestrator',
  artifact_store: 'artifactStore',
  secrets_manager: 'secretsManager',
  container_registry: 'containerRegistry',
} as const satisfies Record<SingleComponentType, string>;

/** The types with a command group of their own (`keystack orchestrator …`); secrets managers have theirs. */
export const STACK_COMPONENT_TYPES = COMPONENT_TYPES.filter(
  (t): t is Exclude<ComponentType, 'secrets_manager'> => t !== 'secrets_manager',
);

/**
 * A stack holds any number of step operators (at most one of each name, as names are unique per
 * type) and at most one component of every other type.
 */
export type SingleComponentType = Exclude<ComponentType, 'step_operator'>;
export const SINGLE_COMPONENT_TYPES: readonly SingleComponentType[] = COMPONENT_TYPES.filter(
  (t): t is SingleComponentType => t !== 'step_operator',
);

export interface ComponentRecord {
  uuid: string;
  type: ComponentType;
  flavor: string;
  name: string;
  config: Record<string, unknown>;
  createdAt: string;
}

export interface StackRecord {
  uuid: string;
  name: string;
  components: Partial<Record<SingleComponentType, string>>;
  /** UUIDs of the stack's step operators, in the order they were added. */
  stepOperators: string[];
  createdAt: string;
}

export interface PluginRecord {
  module: string;
  registeredAt: string;
}

export const DEFAULT_STACK = 'default';

/**
 * The store's schema, as migrations: MIGRATIONS[i] takes a database from user_version i to i + 1.
 * Only append; never change a migration that has shipped. Every table of config.db is created
 * here, so that one version number describes the whole file.
 */
const MIGRATIONS: readonly ((db: Database.Database) => void)[] = [
  // 1: components, stacks, settings and plugin modules.
  (db) =>
    db.exec(`
      CREATE TABLE IF NOT EXISTS components (
        uuid TEXT PRIMARY KEY, type TEXT NOT NULL, flavor TEXT NOT NULL, name TEXT NOT NULL,
        config TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (type, name));
      CREATE TABLE IF NOT EXISTS stacks (
        uuid TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, components TEXT NOT NULL, created_at TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS settings (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS plugins (module TEXT PRIMARY KEY, registered_at TEXT NOT NULL);`),
  // 2: pipeline runs and steps, with the process that runs each run (to tell a run whose
  // process died). Version-1 stores may already have the tables: keystack 0.1 created them
  // outside the migrations, on the first pipeline command.
  (db) => {
    db.exec(`
      CREATE TABLE IF NOT EXISTS pipeline_runs (
        id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, stack TEXT NOT NULL, orchestrator TEXT NOT NULL,
        module TEXT, export_name TEXT, status TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, error TEXT);
      CREATE TABLE IF NOT EXISTS pipeline_steps (
        run_id TEXT NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE, step_id TEXT NOT NULL, name TEXT NOT NULL,
        position INTEGER NOT NULL, status TEXT NOT NULL, cache_key TEXT, cache_enabled INTEGER NOT NULL,
        inputs TEXT NOT NULL, params TEXT NOT NULL, artifact_store TEXT, output_uri TEXT, output_hash TEXT,
        cached_from TEXT, started_at TEXT, duration_ms INTEGER, error TEXT, PRIMARY KEY (run_id, step_id));
      CREATE INDEX IF NOT EXISTS pipeline_steps_cache ON pipeline_steps (cache_key, status);
      CREATE INDEX IF NOT EXISTS pipeline_runs_started ON pipeline_runs (started_at);
      ALTER TABLE pipeline_runs ADD COLUMN runner_host TEXT;
      ALTER TABLE pipeline_runs ADD COLUMN runner_pid INTEGER;
      ALTER TABLE pipeline_runs ADD COLUMN runner_start TEXT;`);
  },
  // 3: step operators, any number per stack (the stacks' JSON holds one component per type).
  (db) =>
    db.exec(`
      CREATE TABLE IF NOT EXISTS stack_step_operators (
        stack TEXT NOT NULL, component_uuid TEXT NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (stack, component_uuid));
      CREATE INDEX IF NOT EXISTS stack_step_operators_component ON stack_step_operators (component_uuid);`),
  // 4: remote steps: which worker ran a step and how many attempts it took. Columns already there
  // are kept, as CREATE TABLE IF NOT EXISTS keeps tables.
  (db) => {
    const have = new Set((db.pragma('table_info(pipeline_steps)') as { name: string }[]).map((c) => c.name));
    if (!have.has('worker')) db.exec('ALTER TABLE pipeline_steps ADD COLUMN worker TEXT');
    if (!have.has('attempts')) db.exec('ALTER TABLE pipeline_steps ADD COLUMN attempts INTEGER');
  },
  // 5: provenance, one row per secret access made for a run, and each step's `secrets:`
  // declaration. Fingerprints are also kept one per row of their own table, keyed by the
  // fingerprint, so that the leaked-value question is one index lookup, not a scan of JSON. Every
  // index costs each read of every run a write, so there are only those the queries need: by
  // secret, by run, and the (rare) accesses that were not reads, for audit.
  (db) => {
    db.exec(`
      CREATE TABLE IF NOT EXISTS provenance (
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, pipeline TEXT NOT NULL, step TEXT, component TEXT,
        attempt INTEGER NOT NULL, worker TEXT, host TEXT NOT NULL, at TEXT NOT NULL,
        manager_uuid TEXT NOT NULL, manager_name TEXT NOT NULL, manager_flavor TEXT NOT NULL,
        secret TEXT NOT NULL, keys TEXT NOT NULL, version TEXT, pinned TEXT, fingerprints TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('read', 'denied', 'not_found', 'error')), error_code TEXT);
      CREATE INDEX IF NOT EXISTS provenance_secret ON provenance (secret, at);
      CREATE INDEX IF NOT EXISTS provenance_run ON provenance (run_id);
      CREATE INDEX IF NOT EXISTS provenance_unread ON provenance (at) WHERE outcome <> 'read';
      CREATE TABLE IF NOT EXISTS provenance_fingerprints (
        fingerprint TEXT NOT NULL, record INTEGER NOT NULL, key TEXT NOT NULL,
        PRIMARY KEY (fingerprint, record, key)) WITHOUT ROWID;`);
    const have = new Set((db.pragma('table_info(pipeline_steps)') as { name: string }[]).map((c) => c.name));
    if (!have.has('secrets')) db.exec('ALTER TABLE pipeline_steps ADD COLUMN secrets TEXT');
  },
  // 6: who wrote each version of a secret (writers.ts): keystack's own record, never the backend's.
  (db) =>
    db.exec(`
      CREATE TABLE IF NOT EXISTS secret_writers (
        manager_uuid TEXT NOT NULL, secret TEXT NOT NULL, version TEXT NOT NULL, writer TEXT NOT NULL,
        written_at TEXT NOT NULL, PRIMARY KEY (manager_uuid, secret, version)) WITHOUT ROWID;`),
  // 7: each step's `allowSecretOutputs` (the leak guard's opt-out), as a JSON list; null: none.
  (db) => {
    const have = new Set((db.pragma('table_info(pipeline_steps)') as { name: string }[]).map((c) => c.name));
    if (!have.has('allow_secret_outputs')) db.exec('ALTER TABLE pipeline_steps ADD COLUMN allow_secret_outputs TEXT');
  },
  // 8: provenance fingerprints are stored once per distinct set of values read, not twice per
  // record (a JSON column and a row per key): a record names its set (`value_set`), and the
  // fingerprint index points at sets. A step that reads a secret five times, and every run that
  // reads the same values, adds no fingerprint rows at all: a record is one row and its entries
  // in three indexes (secret, run, set). Existing records get the set of their JSON copy; the old
  // per-record fingerprint rows are rebuilt per set.
  (db) => {
    db.exec('CREATE TABLE IF NOT EXISTS provenance_values (id INTEGER PRIMARY KEY, fingerprints TEXT NOT NULL UNIQUE)');
    const columns = (table: string) =>
      new Set((db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name));
    const have = columns('provenance');
    if (have.has('fingerprints')) {
      if (!have.has('value_set')) db.exec('ALTER TABLE provenance ADD COLUMN value_set INTEGER');
      if (columns('provenance_fingerprints').has('record')) {
        db.exec(`DROP TABLE provenance_fingerprints;
          CREATE TABLE provenance_fingerprints (
            fingerprint TEXT NOT NULL, value_set INTEGER NOT NULL, key TEXT NOT NULL,
            PRIMARY KEY (fingerprint, value_set, key)) WITHOUT ROWID;`);
      }
      db.exec(`
        INSERT OR IGNORE INTO provenance_values (fingerprints)
          SELECT fingerprints FROM provenance WHERE fingerprints <> '{}' ORDER BY id;
        UPDATE provenance SET value_set = (SELECT v.id FROM provenance_values v WHERE v.fingerprints = provenance.fingerprints)
          WHERE fingerprints <> '{}';
        INSERT OR IGNORE INTO provenance_fingerprints (fingerprint, value_set, key)
          SELECT j.value, v.id, j.key FROM provenance_values v, json_each(v.fingerprints) j;
        ALTER TABLE provenance DROP COLUMN fingerprints;`);
    }
    db.exec('CREATE INDEX IF NOT EXISTS provenance_value ON provenance (value_set) WHERE value_set IS NOT NULL');
  },
  // 9: a step's access records are first one line in an append-only log, in the transaction that
  // writes its status, and are moved into the indexed `provenance` rows in batches, before the
  // first question asked of them (provenance-store.ts). A row per read, with its three index
  // entries, cost each step several pages of WAL; a line at the end of one table costs about one.
  (db) =>
    db.exec(`CREATE TABLE IF NOT EXISTS provenance_log (
      id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, step_id TEXT NOT NULL, line TEXT NOT NULL)`),
];

/** The schema version this code writes; stores at an older version are migrated on open. */
export const SCHEMA_VERSION = MIGRATIONS.length;

interface ComponentRow {
  uuid: string;
  type: ComponentType;
  flavor: string;
  name: string;
  config: string;
  created_at: string;
}
interface StackRow {
  uuid: string;
  name: string;
  components: string;
  created_at: string;
}

export class ConfigStore {
  readonly file: string;
  readonly db: Database.Database;

  private constructor(file: string, db: Database.Database) {
    this.file = file;
    this.db = db;
  }

  /**
   * Opens (creating if needed) the store of a config directory. The directory, `config.db` and
   * its WAL files are trust-checked first: whoever can replace them can run code as this user
   * through a planted plugin row. `warn` hears about a directory tightened to 0700.
   */
  static open(configDir: string, options: { warn?: TrustWarn } = {}): ConfigStore {
    refuseInStepProcess('open the config store');
    const file = join(configDir, 'config.db');
    // Idempotent, so a busy moment while another CLI call sets up the same new file is retried.
    return retryBusy(() => {
      let db: Database.Database | undefined;
      try {
        db = openShared(file, [], { tighten: options.warn ?? defaultTrustWarn });
        const store = new ConfigStore(file, db);
        // Every CLI call opens this file: only take the write lock when there is something to set up.
        const version = db.pragma('user_version', { simple: true }) as number;
        if (version > SCHEMA_VERSION) throw newerStore(file, version);
        if (version < SCHEMA_VERSION && db.readonly) {
          throw new ConfigError(
            `the config store ${file} is read-only, and this keystack must upgrade it (schema version ${version} to ${SCHEMA_VERSION}) before it can use it`,
            {
              hint: 'Run keystack once with write access to it and its directory, or set KEYSTACK_CONFIG_DIR to a writable directory.',
            },
          );
        }
        if (version < SCHEMA_VERSION) {
          db.pragma('journal_mode = WAL');
          store.#migrate();
        }
        return store;
      } catch (e) {
        db?.close();
        const code = (e as { code?: string }).code;
        if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
          throw new ConfigError(`the config store ${file} is damaged (${code})`, {
            hint: 'Restore it from a backup, or move it away to start with a fresh default stack.',
          });
        }
        throw environmentError(file, e) ?? e;
      }
    });
  }

  /** Applies the migrations this file lacks, in one transaction (another process may race us). */
  #migrate(): void {
    this.tx(() => {
      const version = this.db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) throw newerStore(this.file, version);
      for (const step of MIGRATIONS.slice(version)) step(this.db);
      if (!this.#setting('initialized')) this.#createDefaults();
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    });
  }

  /** The `default` stack: local orchestrator, artifact store and secrets manager. */
  #createDefaults(): void {
    const components: Partial<Record<SingleComponentType, string>> = {};
    for (const type of ['orchestrator', 'artifact_store', 'secrets_manager'] as const) {
      const existing = this.findComponent(type, DEFAULT_STACK);
      components[type] =
        existing?.uuid ??
        this.addComponent({
          type,
          flavor: 'local',
          name: DEFAULT_STACK,
          config: type === 'secrets_manager' ? { scope: 'component', scope_prefix: 'keystack' } : {},
        }).uuid;
    }
    if (!this.findStack(DEFAULT_STACK)) this.addStack(DEFAULT_STACK, components);
    this.#setSetting('active_stack', DEFAULT_STACK);
    this.#setSetting('initialized', new Date().toISOString());
  }

  /** Runs `fn` in one immediate (write-locking) transaction. */
  tx<T>(fn: () => T): T {
    return this.#writing(() => retryBusy(() => this.db.transaction(fn).immediate()));
  }

  /** Runs a write; a read-only file or a full disk is reported as such, with the path. */
  #writing<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw environmentError(this.file, e) ?? e;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // --- components ---

  /**
   * Registers a component under a new UUID, or under `uuid` when given: adopting a component that
   * already exists elsewhere (a ZenML component-scoped secrets manager keys its secrets on its UUID).
   */
  addComponent(c: {
    type: ComponentType;
    flavor: string;
    name: string;
    config: Record<string, unknown>;
    uuid?: string | undefined;
  }): ComponentRecord {
    const { uuid: given, ...fields } = c;
    const uuid = given === undefined ? randomUUID() : normaliseUuid(given);
    return this.tx(() => {
      if (this.findComponent(c.type, c.name)) {
        throw new ExistsError(
          `a ${COMPONENT_LABEL[c.type]} named '${c.name}' already exists`,
          `Pick another name, or change it with \`keystack ${COMPONENT_LABEL[c.type]} update ${c.name}\`.`,
        );
      }
      const taken = given === undefined ? undefined : this.componentById(uuid);
      if (taken) {
        throw new ExistsError(
          `the id ${uuid} is already registered, to ${COMPONENT_LABEL[taken.type]} '${taken.name}'`,
          `Two registrations with one id would share its component-scoped secrets; use '${taken.name}' (e.g. \`keystack stack update -x ${taken.name}\`), or delete it first.`,
        );
      }
      const rec: ComponentRecord = { uuid, ...fields, createdAt: new Date().toISOString() };
      this.db
        .prepare('INSERT INTO components (uuid, type, flavor, name, config, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(rec.uuid, rec.type, rec.flavor, rec.name, JSON.stringify(rec.config), rec.createdAt);
      return rec;
    });
  }

  findComponent(type: ComponentType, nameOrId: string): ComponentRecord | undefined {
    const row = this.db
      .prepare('SELECT * FROM components WHERE type = ? AND (name = ? OR uuid = ?)')
      .get(type, nameOrId, nameOrId) as ComponentRow | undefined;
    return row && toComponent(row);
  }

  componentById(uuid: string): ComponentRecord | undefined {
    const row = this.db.prepare('SELECT * FROM components WHERE uuid = ?').get(uuid) as ComponentRow | undefined;
    return row && toComponent(row);
  }

  getComponent(type: ComponentType, nameOrId: string): ComponentRecord {
    const c = this.findComponent(type, nameOrId);
    if (!c) {
      throw new NotFoundError(
        `no ${COMPONENT_LABEL[type]} named '${nameOrId}'`,
        `Run \`keystack ${COMPONENT_LABEL[type]} list\` to see the registered ones.`,
      );
    }
    return c;
  }

  listComponents(type: ComponentType): ComponentRecord[] {
    return (this.db.prepare('SELECT * FROM components WHERE type = ? ORDER BY name').all(type) as ComponentRow[]).map(
      toComponent,
    );
  }

  /** A bare write: call it inside `tx`, together with the read it is based on. */
  updateComponentConfig(uuid: string, config: Record<string, unknown>): void {
    this.#writing(() =>
      this.db.prepare('UPDATE components SET config = ? WHERE uuid = ?').run(JSON.stringify(config), uuid),
    );
  }

  /** Stacks that use a component. */
  stacksUsing(uuid: string): string[] {
    return this.listStacks()
      .filter((s) => Object.values(s.components).includes(uuid) || s.stepOperators.includes(uuid))
      .map((s) => s.name);
  }

  deleteComponent(type: ComponentType, nameOrId: string): ComponentRecord {
    return this.tx(() => {
      const c = this.getComponent(type, nameOrId);
      const users = this.stacksUsing(c.uuid);
      if (users.length > 0) {
        throw new InUseError(
          `${COMPONENT_LABEL[type]} '${c.name}' is used by stack${users.length > 1 ? 's' : ''} ${users.map((u) => `'${u}'`).join(', ')}`,
          `Remove it from ${users.length > 1 ? 'those stacks' : 'that stack'} first, or delete the stack.`,
        );
      }
      this.db.prepare('DELETE FROM components WHERE uuid = ?').run(c.uuid);
      return c;
    });
  }

  // --- stacks ---

  addStack(
    name: string,
    components: Partial<Record<SingleComponentType, string>>,
    stepOperators: readonly string[] = [],
  ): StackRecord {
    return this.tx(() => {
      if (this.findStack(name))
        throw new ExistsError(
          `a stack named '${name}' already exists`,
          `Change it with \`keystack stack update ${name}\`.`,
        );
      const rec: StackRecord = {
        uuid: randomUUID(),
        name,
        components,
        stepOperators: [...new Set(stepOperators)],
        createdAt: new Date().toISOString(),
      };
      this.db
        .prepare('INSERT INTO stacks (uuid, name, components, created_at) VALUES (?, ?, ?, ?)')
        .run(rec.uuid, rec.name, JSON.stringify(components), rec.createdAt);
      this.setStackStepOperators(rec.uuid, rec.stepOperators);
      return rec;
    });
  }

  findStack(name: string): StackRecord | undefined {
    const row = this.db.prepare('SELECT * FROM stacks WHERE name = ? OR uuid = ?').get(name, name) as
      | StackRow
      | undefined;
    return row && this.#toStack(row);
  }

  /** A bare write: call it inside `tx`. Replaces the stack's step operators (UUIDs, in order). */
  setStackStepOperators(stackUuid: string, uuids: readonly string[]): void {
    this.#writing(() => {
      this.db.prepare('DELETE FROM stack_step_operators WHERE stack = ?').run(stackUuid);
      const ins = this.db.prepare(
        'INSERT INTO stack_step_operators (stack, component_uuid, position) VALUES (?, ?, ?)',
      );
      [...new Set(uuids)].forEach((u, i) => ins.run(stackUuid, u, i));
    });
  }

  #toStack(r: StackRow): StackRecord {
    const ops = this.db
      .prepare('SELECT component_uuid FROM stack_step_operators WHERE stack = ? ORDER BY position')
      .all(r.uuid) as { component_uuid: string }[];
    return { ...toStack(r), stepOperators: ops.map((o) => o.component_uuid) };
  }

  getStack(name: string): StackRecord {
    const s = this.findStack(name);
    if (!s)
      throw new NotFoundError(`no stack named '${name}'`, 'Run `keystack stack list` to see the registered stacks.');
    return s;
  }

  listStacks(): StackRecord[] {
    return (this.db.prepare('SELECT * FROM stacks ORDER BY name').all() as StackRow[]).map((r) => this.#toStack(r));
  }

  /** A bare write: call it inside `tx`, together with the read it is based on. */
  setStackComponents(name: string, components: Partial<Record<SingleComponentType, string>>): void {
    this.#writing(() =>
      this.db.prepare('UPDATE stacks SET components = ? WHERE name = ?').run(JSON.stringify(components), name),
    );
  }

  deleteStack(name: string): void {
    this.tx(() => {
      const s = this.getStack(name);
      if (this.activeStackName() === s.name) {
        throw new InUseError(
          `stack '${s.name}' is the active stack`,
          'Activate another one first with `keystack stack set NAME`.',
        );
      }
      this.db.prepare('DELETE FROM stack_step_operators WHERE stack = ?').run(s.uuid);
      this.db.prepare('DELETE FROM stacks WHERE uuid = ?').run(s.uuid);
    });
  }

  activeStackName(): string {
    return this.#setting('active_stack') ?? DEFAULT_STACK;
  }

  setActiveStack(name: string): StackRecord {
    return this.tx(() => {
      const s = this.getStack(name);
      this.#setSetting('active_stack', s.name);
      return s;
    });
  }

  // --- plugin modules (custom flavors and schemas) ---

  addPlugin(module: string): PluginRecord {
    const rec = { module, registeredAt: new Date().toISOString() };
    this.#writing(() =>
      this.db
        .prepare(
          'INSERT INTO plugins (module, registered_at) VALUES (?, ?) ON CONFLICT (module) DO UPDATE SET registered_at = excluded.registered_at',
        )
        .run(rec.module, rec.registeredAt),
    );
    return rec;
  }

  removePlugin(module: string): boolean {
    return this.#writing(() => this.db.prepare('DELETE FROM plugins WHERE module = ?').run(module).changes === 1);
  }

  listPlugins(): PluginRecord[] {
    return (
      this.db.prepare('SELECT module, registered_at FROM plugins ORDER BY registered_at').all() as {
        module: string;
        registered_at: string;
      }[]
    ).map((r) => ({ module: r.module, registeredAt: r.registered_at }));
  }

  #setting(k: string): string | undefined {
    return (this.db.prepare('SELECT v FROM settings WHERE k = ?').get(k) as { v: string } | undefined)?.v;
  }

  /** A setting of this store (such as the run history's retention), or undefined when unset. */
  setting(k: string): string | undefined {
    return this.#setting(k);
  }

  /** Sets (a string) or removes (undefined) a setting. */
  setSetting(k: string, v: string | undefined): void {
    this.#writing(() => {
      if (v === undefined) this.db.prepare('DELETE FROM settings WHERE k = ?').run(k);
      else this.#setSetting(k, v);
    });
  }

  #setSetting(k: string, v: string): void {
    this.db.prepare('INSERT INTO settings (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v').run(k, v);
  }
}

/**
 * Failures that come from the machine, not from keystack: a config directory that is a file or
 * cannot be entered, a read-only file or file system, a full disk, an I/O error. Undefined for
 * anything else (busy is retried elsewhere; other errors are bugs and reported as such).
 */
export function environmentError(file: string, e: unknown): ConfigError | undefined {
  if (e instanceof ConfigError) return undefined;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  const dir = dirname(file);
  const say = (message: string, hint: string) => new ConfigError(message, { hint, cause: e });
  const elsewhere = 'or set KEYSTACK_CONFIG_DIR to a directory of your own';
  if (code === 'ENOTDIR' || code === 'EEXIST') {
    return say(
      `the config directory ${dir} is not a directory (${code})`,
      `Move the file at that path away, ${elsewhere}.`,
    );
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'SQLITE_PERM') {
    return say(
      `permission denied on the config store ${file} (${code})`,
      `Check that this user can read and write it and its directory (\`ls -ld ${dir} ${file}\`), ${elsewhere}.`,
    );
  }
  if (code === 'EROFS' || code.startsWith('SQLITE_READONLY')) {
    return say(
      `the config store ${file} is read-only (${code}), and this command changes it`,
      `Make it and its directory writable, ${elsewhere}. Commands that only read work as they are.`,
    );
  }
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL') {
    return say(
      `the disk holding the config store ${file} is full (${code}); nothing was changed`,
      'Free some space, then run the command again.',
    );
  }
  if (code === 'EIO' || code.startsWith('SQLITE_IOERR')) {
    return say(
      `cannot read or write the config store ${file} (${code})`,
      'Check the disk and the file system it is on, then run the command again.',
    );
  }
  if (code === 'SQLITE_CANTOPEN' || code === 'EISDIR' || code === 'ENOENT') {
    return say(
      `cannot open the config store ${file} (${code})`,
      `Check that its directory exists and this user can read and write both, ${elsewhere}.`,
    );
  }
  return undefined;
}

function newerStore(file: string, version: number): ConfigError {
  return new ConfigError(
    `the config store ${file} has schema version ${version}, newer than this keystack understands (${SCHEMA_VERSION})`,
    {
      hint: 'Upgrade keystack, or point KEYSTACK_CONFIG_DIR at another directory.',
    },
  );
}

function toComponent(r: ComponentRow): ComponentRecord {
  return {
    uuid: r.uuid,
    type: r.type,
    flavor: r.flavor,
    name: r.name,
    config: JSON.parse(r.config) as Record<string, unknown>,
    createdAt: r.created_at,
  };
}

function toStack(r: StackRow): Omit<StackRecord, 'stepOperators'> {
  return {
    uuid: r.uuid,
    name: r.name,
    components: JSON.parse(r.components) as StackRecord['components'],
    createdAt: r.created_at,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID in the canonical lowercase form ZenML and keystack write, or a ConfigError. */
export function normaliseUuid(uuid: string): string {
  if (!UUID.test(uuid)) {
    throw new ConfigError(`invalid UUID ${JSON.stringify(uuid)}`, {
      hint: 'Give the component id as 32 hex digits in 8-4-4-4-12 form, e.g. 3f2a6c1e-9b7d-4e5f-8a1b-2c3d4e5f6a7b (ZenML shows it in `zenml secrets-manager describe`).',
    });
  }
  return uuid.toLowerCase();
}
