import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError, InputError, SecretNotFoundError, UsageError } from '../../../errors.js';
import type { Secret } from '../../../core/manager.js';
import { expandValue, readBoundedFile } from '../../input.js';
import { listText, table } from '../../output.js';
import type { CommandContext } from '../../context.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';

interface RegisterSecretsOptions {
  skipExisting?: boolean;
  /** A JSON file: `{"secret": {"key": "value"}}` or `{"secret.key": "value"}`. */
  values?: string;
  /** A .env file with `secret.key=value` lines. */
  envFile?: string;
}

/**
 * Asks for every referenced secret key (hidden prompts), or takes the values from files for CI,
 * then registers the missing secrets and updates the changed ones.
 */
export default defineCommand({
  path: 'stack register-secrets',
  description: 'register the secrets a stack references: hidden prompts, or --values/--env-file for CI',
  arguments: [{ spec: '[name]', complete: 'stack' }],
  options: [
    { flags: '--skip-existing', description: 'do not ask for keys that already have a value' },
    { flags: '--values <file>', description: 'JSON file: {"SECRET": {"KEY": "VALUE"}} or {"SECRET.KEY": "VALUE"}' },
    { flags: '--env-file <file>', description: '.env file with SECRET.KEY=VALUE lines' },
  ],
  examples: ['keystack stack register-secrets', 'keystack stack register-secrets prod --values secrets.json'],
  shape: (z) =>
    z.strictObject({
      stack: z.string(),
      manager: z.string().nullable(),
      scope: views(z).scope.nullable(),
      registered: z.array(z.string()),
      updated: z.array(z.string()),
      unchanged: z.array(z.string()),
    }),
  run: async (ctx, { args, opts }: CommandInput<RegisterSecretsOptions>) => {
    const { formatReference } = await import('../../../secrets/reference.js');
    const { StackRuntime } = await import('../../../stack/runtime.js');
    const ks = ctx.keystack();
    const stack = await StackRuntime.load(ks, { stack: args['name'] });
    const refs = stack.requiredSecrets();
    if (refs.length === 0) {
      const sm = stack.rawSecretsManager;
      return {
        data: {
          stack: stack.name,
          manager: sm?.name ?? null,
          scope: sm?.scope.scope ?? null,
          registered: [],
          updated: [],
          unchanged: [],
        },
        text: 'No secrets required for this stack.',
      };
    }
    const manager = stack.rawSecretsManager;
    if (!manager) {
      const names = [...new Set(refs.map((r) => r.name))];
      throw new ConfigError(
        `unable to register the required secrets (${names.join(', ')}) because stack '${stack.name}' has no secrets manager`,
        {
          hint: `Add one with \`keystack stack update ${stack.name} -x NAME\`, then run this again.`,
        },
      );
    }
    const given = {
      ...(opts.values ? readJsonValues(resolve(ctx.cwd, opts.values)) : {}),
      ...(opts.envFile ? readEnvValues(resolve(ctx.cwd, opts.envFile)) : {}),
    };
    ctx.out.sensitive(Object.values(given));

    const byName = new Map<string, string[]>();
    for (const r of refs) byName.set(r.name, [...(byName.get(r.name) ?? []), r.key]);
    const registered: string[] = [];
    const updated: string[] = [];
    const unchanged: string[] = [];
    const missingInput: string[] = [];
    const plans: { name: string; existing: Secret | null; changes: Record<string, string> }[] = [];

    for (const [name, keys] of byName) {
      const existing = await manager
        .get(name)
        .catch((e: unknown) => (e instanceof SecretNotFoundError ? null : Promise.reject(e)));
      if (existing) ctx.out.sensitive(Object.values(existing.values));
      const changes: Record<string, string> = {};
      for (const key of keys) {
        const ref = formatReference({ name, key });
        const current = existing && Object.hasOwn(existing.values, key) ? existing.values[key] : undefined;
        const provided = given[`${name}.${key}`];
        if (provided !== undefined) {
          if (provided !== current) changes[key] = provided;
          continue;
        }
        if (current !== undefined && (opts.skipExisting || !ctx.interactive)) continue;
        if (!ctx.interactive) {
          missingInput.push(ref);
          continue;
        }
        const value = await promptValue(ctx, name, key, current !== undefined);
        ctx.out.sensitive([value]);
        if (value !== '' && value !== current) changes[key] = value;
      }
      plans.push({ name, existing, changes });
    }
    if (missingInput.length > 0) {
      throw new UsageError(
        `no value for ${missingInput.join(', ')}`,
        'Run this in a terminal to be prompted, or pass --values FILE.json ({"secret": {"key": "value"}}) or --env-file FILE.env (secret.key=value lines).',
      );
    }

    for (const p of plans) {
      if (Object.keys(p.changes).length === 0) {
        unchanged.push(p.name);
      } else if (!p.existing) {
        ctx.out.note(`Registering secret '${p.name}' (keys: ${listText(Object.keys(p.changes))}).`);
        await manager.register(p.name, p.changes);
        registered.push(p.name);
      } else {
        ctx.out.note(`Updating secret '${p.name}' (keys: ${listText(Object.keys(p.changes))}).`);
        await manager.update(p.name, { ...p.existing.values, ...p.changes }, { schema: p.existing.schema });
        updated.push(p.name);
      }
    }
    const rows = plans.map((p) => [
      p.name,
      registered.includes(p.name) ? 'registered' : updated.includes(p.name) ? 'updated' : 'unchanged',
      listText(byName.get(p.name) ?? []),
    ]);
    return {
      data: { stack: stack.name, manager: manager.name, scope: manager.scope.scope, registered, updated, unchanged },
      text: `${table(['SECRET', 'STATUS', 'KEYS'], rows)}\nStack '${stack.name}' has every secret it references in ${manager.where}.`,
    };
  },
});

// --- Internal helpers ---

async function promptValue(ctx: CommandContext, name: string, key: string, hasExisting: boolean): Promise<string> {
  const message = `Value for secret \`${name}.${key}\`${hasExisting ? ' (Leave empty to use existing value)' : ''}:`;
  for (;;) {
    const raw = await ctx.prompt.secret(message);
    const value = raw === '' ? raw : expandValue(`${name}.${key}`, raw);
    if (value !== '' || hasExisting) return value;
    ctx.out.warn('a value is required.');
  }
}

function readInputFile(file: string): string {
  const bytes = readBoundedFile(file, 'values', 'Check the path.');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InputError(`${file} is not valid UTF-8 text`, 'Save it as UTF-8; store binary values base64-encoded.');
  }
}

/** `{"db": {"password": "x"}}` or `{"db.password": "x"}` → `{"db.password": "x"}`. */
function readJsonValues(file: string): Record<string, string> {
  let doc: unknown;
  try {
    doc = JSON.parse(readInputFile(file));
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${file} is not valid JSON`, 'Write {"SECRET": {"KEY": "VALUE"}} or {"SECRET.KEY": "VALUE"}.');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new InputError(`${file} must hold a JSON object`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (typeof v === 'string') out[k] = v;
    else if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [key, value] of Object.entries(v)) {
        if (typeof value !== 'string') throw new InputError(`${file}: the value of '${k}.${key}' must be a string`);
        out[`${k}.${key}`] = value;
      }
    } else throw new InputError(`${file}: the value of '${k}' must be a string or an object of strings`);
  }
  return out;
}

/** `.env` lines `secret.key=value` (quotes and comments as in Node's parseEnv). */
function readEnvValues(file: string): Record<string, string> {
  return parseEnv(readInputFile(file)) as Record<string, string>;
}
