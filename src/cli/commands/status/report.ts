/**
 * What `keystack status` reports: the config directory, the active stack and its components, its
 * secrets manager (flavor, scope, backend domain) and where that manager's credentials or key
 * come from, without touching any backend. Never a value: sensitive config is `***` and
 * credentials are named by where they come from.
 */
import { localKeySource, localStorePath, type LocalKeySource } from '../../../stack/local-store.js';
import type { FlavorDefinition } from '../../../core/types.js';
import type { RemoteWorkers } from '../../../pipeline/remote/workers-status.js';
import { COMPONENT_LABEL, SINGLE_COMPONENT_TYPES, type ComponentRecord } from '../../../stack/config-store.js';
import { MASK } from '../../../support/masking.js';
import { redactConfig, table } from '../../output.js';
import type { CommandContext, CommandResult } from '../../context.js';
import {
  contextFromText,
  contextStack,
  managerContext,
  named,
  stackContext,
  type ContextPick,
  type ManagerChoice,
} from '../../select.js';

type Env = Readonly<Record<string, string | undefined>>;

/** Where a credential field's value comes from: the stored config, a variable, or nowhere yet. */
type CredentialSource = { from: 'config' } | { from: 'env'; variable: string } | { from: 'unset'; variable?: string };

export async function status(ctx: CommandContext, choice: ManagerChoice = {}): Promise<CommandResult<StatusData>> {
  const ks = ctx.keystack();
  const stackPick = await stackContext(ctx, choice.stack);
  const managerPick = await managerContext(ctx, choice);
  const stack = await contextStack(ctx, stackPick);
  const components: StatusData['components'] = SINGLE_COMPONENT_TYPES.flatMap((type) => {
    const c = ks.stackComponent(stack, type);
    return c ? [{ type, name: c.name, flavor: c.flavor, id: c.uuid }] : [];
  });
  for (const c of ks.stackStepOperators(stack))
    components.push({ type: 'step_operator', name: c.name, flavor: c.flavor, id: c.uuid });
  const rec = await named(managerPick, () => Promise.resolve(managerRecord(ctx, managerPick)));
  const manager = rec ? await managerStatus(ctx, rec) : null;
  // Only a remote stack has workers; listing them reads its Redis (redis_url through the manager).
  const remote =
    ks.stackComponent(stack, 'orchestrator')?.flavor === 'bullmq'
      ? await (await import('../../../pipeline/remote/workers-status.js')).remoteWorkers(ks, stack.name)
      : null;
  const data: StatusData = {
    configDir: ks.configDir,
    configDirFrom: configDirSource(ks.env),
    stack: { name: stack.name, id: stack.uuid },
    context: { stack: source(stackPick), secretsManager: source(managerPick) },
    components,
    secretsManager: manager,
    remote,
  };
  return { data, text: statusText(data) };
}

// --- Internal helpers ---

/** The record of the manager secret commands would use; undefined when that stack has none. */
function managerRecord(ctx: CommandContext, pick: ContextPick): ComponentRecord | undefined {
  const ks = ctx.keystack();
  if (pick.kind === 'manager') return ks.store.getComponent('secrets_manager', pick.name ?? '');
  const stack = pick.name === undefined ? ks.activeStack() : ks.store.getStack(pick.name);
  return ks.stackComponent(stack, 'secrets_manager');
}

type ContextSource = StatusData['context']['stack'];

function source(pick: ContextPick): ContextSource {
  return { from: pick.from, file: pick.file ?? null, text: contextFromText(pick) };
}

function configDirSource(env: Env): StatusData['configDirFrom'] {
  if (env['KEYSTACK_CONFIG_DIR']) return 'KEYSTACK_CONFIG_DIR';
  if (env['XDG_CONFIG_HOME']) return 'XDG_CONFIG_HOME';
  return 'default';
}

async function managerStatus(ctx: CommandContext, rec: ComponentRecord) {
  const ks = ctx.keystack();
  // A flavor whose module no longer loads still gets a status line; its config stays hidden.
  const flavor = await ks.flavors.get(rec.flavor).catch(() => undefined);
  const manager = flavor ? await ks.managerFor(rec) : undefined;
  const config = redactConfig(flavor?.config, rec.config);
  const base = {
    name: rec.name,
    id: rec.uuid,
    flavor: rec.flavor,
    scope: config['scope'] ?? null,
    namespace: config['namespace'] ?? null,
    scopePrefix: config['scope_prefix'] ?? null,
    where: manager?.where ?? `secrets manager '${rec.name}' (flavor ${rec.flavor} does not load)`,
  };
  if (!flavor) return { ...base, location: {}, credentials: {}, key: null };
  return {
    ...base,
    location: location(flavor, config, ks.configDir, ks.env),
    credentials: credentials(flavor, rec.config, ks.env),
    key: flavor.name === 'local' ? localKeySource(localStorePath(ks.configDir, rec.config), ks.env) : null,
  };
}

/** The backend domain: each location field's value, from the config, its variable, or its default. */
function location(
  flavor: FlavorDefinition<unknown>,
  config: Record<string, unknown>,
  configDir: string,
  env: Env,
): Record<string, unknown> {
  const fields = flavor.locationFields ?? Object.keys(flavor.config);
  const out: Record<string, unknown> = {};
  for (const k of fields) {
    const field = flavor.config[k];
    if (!field) continue;
    const fromEnv = field.env ? env[field.env] : undefined;
    if (config[k] !== undefined) out[k] = config[k];
    else if (fromEnv) out[k] = field.sensitive ? MASK : fromEnv;
    else if (field.default !== undefined) out[k] = field.default;
    else out[k] = null;
  }
  if (flavor.name === 'local') out['path'] = localStorePath(configDir, config);
  return out;
}

function credentials(
  flavor: FlavorDefinition<unknown>,
  config: Record<string, unknown>,
  env: Env,
): Record<string, CredentialSource> {
  const out: Record<string, CredentialSource> = {};
  const where = new Set(flavor.locationFields ?? Object.keys(flavor.config));
  for (const [k, field] of Object.entries(flavor.config)) {
    // Credentials: sensitive fields, and fields an environment variable may supply (a key id).
    if (!field.sensitive && (field.env === undefined || where.has(k))) continue;
    if (config[k] !== undefined && config[k] !== null) out[k] = { from: 'config' };
    else if (field.env && env[field.env]) out[k] = { from: 'env', variable: field.env };
    else out[k] = field.env ? { from: 'unset', variable: field.env } : { from: 'unset' };
  }
  return out;
}

function keyText(key: LocalKeySource): string {
  switch (key.source) {
    case 'env-key':
      return 'KEYSTACK_LOCAL_KEY (environment)';
    case 'passphrase':
      return 'derived from KEYSTACK_PASSPHRASE (environment)';
    case 'key-file':
      return `key file ${key.file} (set KEYSTACK_LOCAL_KEY or KEYSTACK_PASSPHRASE to use another key)`;
  }
}

function credentialText(c: CredentialSource): string {
  if (c.from === 'config') return 'stored in the config';
  if (c.from === 'env') return `from ${c.variable}`;
  return c.variable ? `not set (${c.variable} is empty)` : 'not set';
}

export interface StatusData {
  configDir: string;
  configDirFrom: 'KEYSTACK_CONFIG_DIR' | 'XDG_CONFIG_HOME' | 'default';
  stack: { name: string; id: string };
  /** Where the stack and the secrets manager came from: a flag, a variable, keystack.toml, or the active stack. */
  context: {
    stack: { from: ContextPick['from']; file: string | null; text: string };
    secretsManager: { from: ContextPick['from']; file: string | null; text: string };
  };
  components: { type: keyof typeof COMPONENT_LABEL; name: string; flavor: string; id: string }[];
  secretsManager: Awaited<ReturnType<typeof managerStatus>> | null;
  /** A remote (bullmq) stack: the workers announced in its Redis; null for other stacks. */
  remote: RemoteWorkers | null;
}

function from(c: ContextSource): string {
  return c.from === 'active-stack' ? 'the active stack' : `from ${c.text}`;
}

function statusText(d: StatusData): string {
  const rows: string[][] = [
    ['config directory', `${d.configDir}${d.configDirFrom === 'default' ? '' : ` (from ${d.configDirFrom})`}`],
    ['stack', `${d.stack.name} (${from(d.context.stack)})`],
    ...d.components.map((c) => [COMPONENT_LABEL[c.type], `${c.name} (flavor ${c.flavor})`]),
  ];
  if (d.secretsManager) rows.push(['secrets from', `${d.secretsManager.name} (${from(d.context.secretsManager)})`]);
  const m = d.secretsManager;
  if (!m)
    rows.push([
      'secrets',
      `the stack has no secrets manager; add one with \`keystack stack update ${d.stack.name} -x NAME\``,
    ]);
  else {
    rows.push(
      [
        'scope',
        // eslint-disable-next-line @typescript-eslint/no-base-to-string -- config values are JSON scalars
        `${String(m.scope)}${m.namespace ? ` '${String(m.namespace)}'` : ''} (prefix ${String(m.scopePrefix)})`,
      ],
      ['secrets in', m.where],
    );
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- config values are JSON scalars
    for (const [k, v] of Object.entries(m.location)) rows.push([`  ${k}`, v === null ? '(not set)' : String(v)]);
    for (const [k, c] of Object.entries(m.credentials)) rows.push([`  ${k}`, credentialText(c)]);
    if (m.key) rows.push(['  key', keyText(m.key)]);
  }
  if (d.remote) rows.push(...workerRows(d.remote));
  return table(['', ''], rows).split('\n').slice(2).join('\n');
}

function workerRows(r: RemoteWorkers): string[][] {
  if (r.error !== null) return [['workers', `cannot be listed: ${r.error}`]];
  if (r.workers.length === 0) return [['workers', 'none announced in Redis (start one with `keystack worker`)']];
  return r.workers.map((w, i) => [
    i === 0 ? 'workers' : '',
    w.problem !== null
      ? `${w.name}: NOT VERIFIED, ${w.problem}`
      : `${w.name} on ${w.host ?? '?'}, isolation ${w.isolation === 'none' ? 'NONE (steps run inside the worker: trusted code only)' : (w.isolation ?? '?')}, queues ${w.queues.join(', ')}, key ${w.keyId ?? '?'}, up since ${w.startedAt ?? '?'}`,
  ]);
}
