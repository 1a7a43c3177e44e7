/**
 * `Keystack`: the library's entry point. It opens the config store of one config directory and
 * hands out secrets managers, stacks and components. The CLI is a thin layer over this class.
 */
import { ConfigError, InUseError, NotFoundError, UsageError } from '../errors.js';
import { realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { validateSecretName } from '../secrets/names.js';
import { isReference } from '../secrets/reference.js';
import { createSchemaRegistry, type SchemaRegistry, type SecretSchema } from '../secrets/schema.js';
import { validateFlavorFields, validateScopeSettings } from '../core/config.js';
import { SecretsManager } from '../core/manager.js';
import { loadPlugin, resolveModulePath, type PluginExports } from '../core/plugins.js';
import { BUILTIN_FLAVOR_LOADERS, createFlavorRegistry, type FlavorRegistry } from '../core/registry.js';
import type { FlavorDefinition } from '../core/types.js';
import {
  COMPONENT_LABEL,
  ConfigStore,
  type ComponentRecord,
  type ComponentType,
  type SingleComponentType,
  type StackRecord,
} from './config-store.js';
import { configDirFrom } from './paths.js';
import { loadProvenanceKey } from './provenance-key.js';
import { Provenance } from './provenance-store.js';
import type { ModuleCacheOptions } from '../support/module-cache.js';
import { currentWriter, defaultWriter, noteWritten, recordWriter, writersOf } from './writers.js';
import { defaultTrustWarn } from '../support/trust.js';

export interface KeystackOptions {
  /** @default KEYSTACK_CONFIG_DIR, else $XDG_CONFIG_HOME/keystack, else ~/.config/keystack */
  configDir?: string;
  /** Environment used for keys, tokens and flavor settings. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Hears warnings that are not errors, such as a config or store directory that others could
   * read being tightened to 0700. @default process.emitWarning
   */
  onWarning?: (message: string) => void;
  /**
   * Who writes through this client, recorded per version a write creates (`secret history`).
   * @default `user@host` of this process
   */
  writer?: string;
}

export interface RegisterManagerInput {
  name: string;
  flavor: string;
  /** Flavor fields plus `scope`, `namespace`, `scope_prefix`; CLI strings are converted. */
  config?: Record<string, unknown>;
  /** Register under this UUID (adopting an existing, e.g. ZenML, manager); a new one otherwise. */
  uuid?: string | undefined;
}

const SCOPE_FIELDS = ['scope', 'namespace', 'scope_prefix'] as const;

export class Keystack {
  readonly configDir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly flavors: FlavorRegistry;
  readonly schemas: SchemaRegistry;
  readonly #warn: (message: string) => void;
  #writer: string | undefined;
  #store: ConfigStore | undefined;
  readonly #managers = new Map<string, SecretsManager>();

  constructor(options: KeystackOptions = {}) {
    this.env = options.env ?? process.env;
    this.configDir = options.configDir ?? configDirFrom(this.env);
    this.#warn = options.onWarning ?? defaultTrustWarn;
    this.#writer = options.writer;
    this.flavors = createFlavorRegistry(
      async () => (await this.plugins()).flatMap((p) => p.flavors.map((flavor) => ({ flavor, source: p.module }))),
      () => this.pluginFailures(),
    );
    // The plugin loader already collects the schemas of every flavor a module exports; going
    // through flavors.list() would also import every lazily loaded built-in flavor for nothing.
    this.schemas = createSchemaRegistry(async () => (await this.plugins()).flatMap((p) => p.schemas));
  }

  /** The config store, opened (and given its default stack) on first use. */
  get store(): ConfigStore {
    return (this.#store ??= ConfigStore.open(this.configDir, { warn: this.#warn }));
  }

  #provenance: Provenance | undefined;

  /**
   * Who read which secret, for runs of this config store: `usedBy`, `usedByValue` (the leaked-value
   * question), `audit` (denials and errors) and `run` (one run's accesses).
   */
  get provenance(): Provenance {
    return (this.#provenance ??= new Provenance({
      store: () => this.store,
      key: () => loadProvenanceKey(this.configDir, this.env),
      manager: (name) => this.secretsManager(name),
    }));
  }

  async close(): Promise<void> {
    const managers = [...this.#managers.values()];
    this.#managers.clear();
    await Promise.all(managers.map((m) => m.close()));
    this.#store?.close();
    this.#store = undefined;
  }

  // --- stacks ---

  activeStack(): StackRecord {
    return this.store.getStack(this.store.activeStackName());
  }

  /** A stack's component of one type, or undefined when the stack has none. */
  stackComponent(stack: StackRecord, type: SingleComponentType): ComponentRecord | undefined {
    const uuid = stack.components[type];
    return uuid === undefined ? undefined : this.store.componentById(uuid);
  }

  /** A stack's step operators, in the order they were added. */
  stackStepOperators(stack: StackRecord): ComponentRecord[] {
    return stack.stepOperators
      .map((u) => this.store.componentById(u))
      .filter((c): c is ComponentRecord => c !== undefined);
  }

  // --- secrets managers ---

  /** The active stack's secrets manager, or the one with this name or UUID. */
  async secretsManager(name?: string): Promise<SecretsManager> {
    if (name !== undefined) return this.managerFor(this.store.getComponent('secrets_manager', name));
    return this.stackSecretsManager(this.activeStack());
  }

  /** The secrets manager of a stack (default: the active one). */
  async stackSecretsManager(stack: StackRecord | string = this.activeStack()): Promise<SecretsManager> {
    const record = typeof stack === 'string' ? this.store.getStack(stack) : stack;
    const found = this.stackComponent(record, 'secrets_manager');
    if (!found) {
      const active = record.name === this.store.activeStackName();
      throw new NotFoundError(
        `${active ? 'the active stack' : 'stack'} '${record.name}' has no secrets manager`,
        `Add one with \`keystack stack update ${record.name} -x NAME\`${active ? ', or activate a stack that has one' : ''}.`,
      );
    }
    return this.managerFor(found);
  }

  /** A SecretsManager for a stored record, cached per UUID for the life of this client. */
  async managerFor(record: ComponentRecord): Promise<SecretsManager> {
    const cached = this.#managers.get(record.uuid);
    if (cached) return cached;
    const manager = await this.#newManager(record);
    this.#managers.set(record.uuid, manager);
    return manager;
  }

  async #newManager(record: ComponentRecord): Promise<SecretsManager> {
    const flavor = await this.flavors.get(record.flavor);
    // Only a custom flavor came from a module (and loading plugins is not free).
    const source = Object.hasOwn(BUILTIN_FLAVOR_LOADERS, flavor.name)
      ? undefined
      : (await this.plugins()).find((p) => p.flavors.includes(flavor))?.module;
    return new SecretsManager({
      record: { uuid: record.uuid, name: record.name, flavor: record.flavor, config: record.config },
      flavor,
      source,
      configDir: this.configDir,
      env: this.env,
      schemas: this.schemas,
      warn: this.#warn,
      onWritten: (name, version) => {
        noteWritten({ manager: record.uuid, secret: name, version });
        recordWriter(this.store, record.uuid, name, version, currentWriter() ?? (this.#writer ??= defaultWriter()));
      },
      writersOf: (name, versions) => writersOf(this.store, record.uuid, name, versions),
    });
  }

  async registerSecretsManager(input: RegisterManagerInput): Promise<ComponentRecord> {
    validateComponentName(input.name);
    const flavor = await this.flavors.get(input.flavor);
    const config = this.#validateManagerConfig(flavor, input.config ?? {});
    return this.store.addComponent({
      type: 'secrets_manager',
      flavor: flavor.name,
      name: input.name,
      config,
      uuid: input.uuid,
    });
  }

  /**
   * Merges `changes` into a manager's config. Changing where its secrets live (scope, namespace,
   * prefix, store path, …) while it still holds secrets would hide them, so that needs `force`.
   */
  async updateSecretsManager(
    name: string,
    changes: Record<string, unknown>,
    options: { force?: boolean } = {},
  ): Promise<ComponentRecord> {
    const first = this.store.getComponent('secrets_manager', name);
    const flavor = await this.flavors.get(first.flavor);
    const plan = (record: ComponentRecord) => {
      const merged = { ...record.config, ...changes };
      for (const [k, v] of Object.entries(changes)) if (v === null) delete merged[k];
      const config = this.#validateManagerConfig(flavor, merged);
      return { config, moved: locationChanges(flavor, record.config, config) };
    };
    // Merging inside one transaction keeps concurrent updates of other fields. Counting the
    // manager's secrets needs the backend (async), so it runs first, on the record as then read,
    // and the transaction redoes it if that record changed in between.
    let checked: string | undefined;
    for (;;) {
      const result = this.store.tx(() => {
        const record = this.store.getComponent('secrets_manager', first.uuid);
        const { config, moved } = plan(record);
        if (moved.length > 0 && !options.force && checked !== JSON.stringify(record.config))
          return { record, moved, check: true } as const;
        this.store.updateComponentConfig(record.uuid, config);
        return { record: { ...record, config }, moved, check: false } as const;
      });
      if (!result.check) {
        await this.#forget(first.uuid);
        return result.record;
      }
      const what = result.moved.map((k) => `'${k}'`).join(', ');
      // Not the cached manager: it may have been made from an older config than the one checked.
      const probe = await this.#newManager(result.record);
      let count: number;
      try {
        count = (await probe.list()).length;
      } catch (e) {
        // Without the count there is no way to know the change is safe; say how to go ahead.
        const reason = e instanceof Error ? e.message : String(e);
        throw new ConfigError(
          `cannot check whether secrets manager '${result.record.name}' holds secrets, so ${what} was not changed: ${reason}`,
          {
            hint: 'Make its backend reachable and try again, or pass --force to change it anyway (any secrets it holds stay where they are).',
            cause: e,
          },
        );
      } finally {
        await probe.close();
      }
      if (count > 0) {
        throw new InUseError(
          `secrets manager '${result.record.name}' holds ${count} secret${count === 1 ? '' : 's'} that changing ${what} would make invisible to it`,
          'Move the secrets first, or pass --force to change it anyway (the secrets stay in the old location).',
        );
      }
      checked = JSON.stringify(result.record.config);
    }
  }

  /** Removes the registration only; the secrets stay in the backend. */
  async deleteSecretsManager(name: string): Promise<ComponentRecord> {
    const record = this.store.deleteComponent('secrets_manager', name);
    await this.#forget(record.uuid);
    return record;
  }

  #validateManagerConfig(flavor: FlavorDefinition<unknown>, raw: Record<string, unknown>): Record<string, unknown> {
    const scope = validateScopeSettings(flavor, raw);
    const own = validateFlavorFields(flavor.name, flavor.config, raw, { forbidReferences: true });
    flavor.check?.(own);
    for (const k of SCOPE_FIELDS) {
      if (typeof raw[k] === 'string' && isReference(raw[k])) {
        throw new ConfigError(`a secrets manager's config cannot use a secret reference (field '${k}')`);
      }
    }
    return { ...own, ...scope };
  }

  async #forget(uuid: string): Promise<void> {
    const m = this.#managers.get(uuid);
    this.#managers.delete(uuid);
    await m?.close();
  }

  // --- plugins: custom flavors and schemas ---

  /** Registers a module that exports flavors and/or schemas; it is loaded to check it first. */
  async registerPlugin(module: string, cwd = process.cwd()): Promise<PluginExports> {
    const path = resolveModulePath(module, cwd);
    const exported = await loadPlugin(path, this.#moduleCache());
    // The clash checks below read the registered modules (async: they are imported); the insert
    // re-reads that list in its transaction and redoes the checks if another call changed it.
    for (;;) {
      const seen = this.#pluginModules();
      this.#plugins = undefined;
      for (const f of exported.flavors) {
        const clash = (await this.flavors.list()).find((x) => x.flavor.name === f.name && x.source !== path);
        if (clash) {
          throw new ConfigError(`flavor '${f.name}' is already provided by ${clash.source}`, {
            hint: 'Give the custom flavor another name.',
          });
        }
      }
      // A module must not silently replace a built-in schema (or another module's) for every secret.
      for (const s of exported.schemas) {
        const existing = await this.schemas.get(s.name);
        if (existing && existing !== s) {
          throw new ConfigError(`schema '${s.name}' already exists (built in or from another registered module)`, {
            hint: 'Give the custom schema another name.',
          });
        }
      }
      const added = this.store.tx(() => {
        if (this.#pluginModules() !== seen) return false;
        this.store.addPlugin(path);
        return true;
      });
      if (added) {
        this.#plugins = undefined;
        return exported;
      }
    }
  }

  /** Removes a module's registration; refused while a secrets manager uses one of its flavors. */
  async unregisterPlugin(module: string, cwd = process.cwd()): Promise<{ module: string; flavors: string[] }> {
    const given = resolve(cwd, module);
    const registered = this.store.listPlugins().map((p) => p.module);
    // Modules are registered by their real path; a link to one (or a stale entry) still matches.
    const path = registered.includes(given) ? given : realPathOr(given);
    const notRegistered = (modules: string[]) =>
      new NotFoundError(`module ${path} is not registered`, `Registered modules: ${modules.join(', ') || '(none)'}.`);
    if (!registered.includes(path)) throw notRegistered(registered);
    // A module that no longer loads cannot be asked for its flavors; removing it is the way out.
    const flavors = await loadPlugin(path, this.#moduleCache()).then(
      (p) => p.flavors.map((f) => f.name),
      () => [] as string[],
    );
    // The users check and the removal in one transaction: no manager of these flavors slips in between.
    this.store.tx(() => {
      const now = this.store.listPlugins().map((p) => p.module);
      if (!now.includes(path)) throw notRegistered(now);
      const users = this.store.listComponents('secrets_manager').filter((r) => flavors.includes(r.flavor));
      if (users.length > 0) {
        throw new InUseError(
          `module ${path} provides the flavor of secrets manager${users.length === 1 ? '' : 's'} ${users.map((u) => `'${u.name}'`).join(', ')}`,
          'Delete those secrets managers first (`keystack secrets-manager delete NAME`).',
        );
      }
      this.store.removePlugin(path);
    });
    this.#plugins = undefined;
    return { module: path, flavors };
  }

  /** Compiled TypeScript modules are kept in the config dir (support/module-cache.ts). */
  #moduleCache(): ModuleCacheOptions {
    const debug = this.env['KEYSTACK_DEBUG'] === '1';
    return {
      dir: join(this.configDir, 'cache', 'modules'),
      onEvent: debug
        ? (e) => {
            const what = 'file' in e ? `${e.module} (${e.file})` : e.module;
            process.stderr.write(`keystack: module cache ${e.kind}: ${what}${'reason' in e ? `: ${e.reason}` : ''}\n`);
          }
        : undefined,
    };
  }

  /** The registered modules, as one comparable string. */
  #pluginModules(): string {
    return JSON.stringify(
      this.store
        .listPlugins()
        .map((p) => p.module)
        .sort(),
    );
  }

  #plugins: Promise<({ module: string; exports: PluginExports } | { module: string; error: unknown })[]> | undefined;

  #loadPlugins() {
    return (this.#plugins ??= Promise.all(
      this.store.listPlugins().map((p) =>
        loadPlugin(p.module, this.#moduleCache()).then(
          (exports) => ({ module: p.module, exports }),
          (error: unknown) => ({ module: p.module, error }),
        ),
      ),
    ));
  }

  /**
   * The registered plugin modules that load, loaded on first need. One broken module must not
   * break every command, so failures are kept aside (see pluginFailures).
   */
  async plugins(): Promise<PluginExports[]> {
    return (await this.#loadPlugins()).flatMap((r) => ('exports' in r ? [r.exports] : []));
  }

  /** Registered modules that failed to load, with the error. */
  async pluginFailures(): Promise<{ module: string; error: unknown }[]> {
    return (await this.#loadPlugins()).flatMap((r) => ('error' in r ? [{ module: r.module, error: r.error }] : []));
  }

  async schema(name: string): Promise<SecretSchema<unknown>> {
    const s = await this.schemas.get(name);
    if (!s) {
      throw new NotFoundError(
        `unknown schema '${name}'`,
        `Run \`keystack schema list\`; add your own with \`keystack schema register MODULE\`.`,
      );
    }
    return s;
  }

  // --- components in general ---

  component(type: ComponentType, name: string): ComponentRecord {
    return this.store.getComponent(type, name);
  }

  /** Registers a stack of components (by name or UUID), with any number of step operators. */
  registerStack(
    name: string,
    components: Partial<Record<SingleComponentType, string>>,
    stepOperators: readonly string[] = [],
  ): StackRecord {
    validateComponentName(name, 'stack name');
    // One transaction: a component deleted meanwhile must not leave the stack pointing at nothing.
    return this.store.tx(() =>
      this.store.addStack(
        name,
        this.#resolveComponents(components),
        stepOperators.map((n) => this.store.getComponent('step_operator', n).uuid),
      ),
    );
  }

  /**
   * Sets (a name) or removes (null) components of a stack; adds and removes step operators (by
   * name or UUID). Removing a step operator the stack does not have is an error, not a no-op.
   */
  updateStack(
    name: string,
    changes: Partial<Record<SingleComponentType, string | null>>,
    stepOperators: { add?: readonly string[] | undefined; remove?: readonly string[] | undefined } = {},
  ): StackRecord {
    return this.store.tx(() => {
      const stack = this.store.getStack(name);
      const components = { ...stack.components };
      let ops = [...stack.stepOperators];
      for (const n of stepOperators.remove ?? []) {
        const rec = this.store.getComponent('step_operator', n);
        if (!ops.includes(rec.uuid)) {
          throw new NotFoundError(
            `stack '${stack.name}' has no step-operator '${rec.name}'`,
            `Run \`keystack stack describe ${stack.name}\` to see its step operators.`,
          );
        }
        ops = ops.filter((u) => u !== rec.uuid);
      }
      for (const n of stepOperators.add ?? []) {
        const uuid = this.store.getComponent('step_operator', n).uuid;
        if (!ops.includes(uuid)) ops.push(uuid);
      }
      for (const [type, value] of Object.entries(changes) as [SingleComponentType, string | null][]) {
        if (value === null) delete components[type];
        else components[type] = this.store.getComponent(type, value).uuid;
      }
      for (const required of ['orchestrator', 'artifact_store'] as const) {
        if (!components[required]) {
          throw new UsageError(`a stack needs an ${COMPONENT_LABEL[required]}`, `Keep one in stack '${name}'.`);
        }
      }
      this.store.setStackComponents(stack.name, components);
      this.store.setStackStepOperators(stack.uuid, ops);
      return { ...stack, components, stepOperators: ops };
    });
  }

  #resolveComponents(
    names: Partial<Record<SingleComponentType, string>>,
  ): Partial<Record<SingleComponentType, string>> {
    const out: Partial<Record<SingleComponentType, string>> = {};
    for (const [type, name] of Object.entries(names) as [SingleComponentType, string][]) {
      out[type] = this.store.getComponent(type, name).uuid;
    }
    return out;
  }
}

/**
 * The scope fields and the flavor's location fields whose value differs: the changes that move
 * where the manager's secrets live. Credentials and other settings do not move anything.
 */
function locationChanges(
  flavor: FlavorDefinition<unknown>,
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): string[] {
  const guarded = [...SCOPE_FIELDS, ...(flavor.locationFields ?? Object.keys(flavor.config))];
  return guarded.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}

export function validateComponentName(name: string, what = 'component name'): void {
  if (isReference(name))
    throw new ConfigError(`a ${what} cannot be a secret reference`, { hint: 'Give a plain name.' });
  validateSecretName(name, undefined, what);
}

function realPathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
