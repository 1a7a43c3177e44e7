/**
 * `keystack secret …` (also `keystack secrets-manager secret …`): secrets on the active stack's
 * manager, or the one `--manager` / `--stack` picks (select.ts).
 */
import { NotFoundError, SecretNotFoundError, UsageError } from '../../errors.js';
import { typedValues } from '../../secrets/content.js';
import { validateSecretKey } from '../../secrets/names.js';
import { schemaFields, type SecretSchema } from '../../secrets/schema.js';
import type { SecretsManager } from '../../core/manager.js';
import { confirmOrAbort } from '../confirm.js';
import { expandValue, expandValues, isStdinValue, parseExtraArgs } from '../input.js';
import { listText, table } from '../output.js';
import { selectManager, type ManagerChoice } from '../select.js';
import type { CommandContext, CommandResult } from '../context.js';

export interface SecretRegisterOptions extends ManagerChoice {
  args: readonly string[];
  schema?: string | undefined;
  interactive?: boolean | undefined;
}

export async function secretRegister(ctx: CommandContext, o: SecretRegisterOptions): Promise<CommandResult> {
  const { name, pairs } = nameAndPairs(o.args);
  if (o.interactive && pairs.size > 0)
    throw new UsageError(
      'values cannot be passed as arguments together with -i',
      'Use either -i or --KEY=VALUE arguments.',
    );
  if (!o.interactive && pairs.size === 0)
    throw new UsageError(
      `no values given for secret '${name}'`,
      'Pass --KEY=VALUE, --KEY=@FILE or --KEY=@- arguments, or -i to be prompted.',
    );
  const manager = await selectManager(ctx, o);
  const schema = await manager.schema(o.schema ?? 'arbitrary');
  for (const key of pairs.keys()) validateSecretKey(key, manager.scope.prefix);
  const values = o.interactive
    ? await promptNewValues(ctx, schema, manager)
    : expandValues(pairs, { readStdin: await stdinReader(ctx, pairs) });
  ctx.out.sensitive(Object.values(values));
  const secret = await manager.register(name, values, { schema });
  if (name.includes('.')) {
    ctx.out.warn(
      `secret '${name}' cannot be used in {{name.key}} references, whose secret name ends at the first '.'; register it under a name without '.' if a stack config should reference it`,
    );
  }
  const keys = Object.keys(secret.values);
  return {
    data: { name, schema: secret.schema, keys, manager: manager.name, scope: manager.scope.scope },
    text: `Registered secret '${name}' (schema ${secret.schema}; keys: ${listText(keys) || 'none'}) in ${manager.where}.`,
  };
}

export async function secretGet(
  ctx: CommandContext,
  o: { name: string; key?: string | undefined } & ManagerChoice,
): Promise<CommandResult> {
  const manager = await selectManager(ctx, o);
  const secret = await manager.get(o.name);
  if (o.key !== undefined) {
    const value = Object.hasOwn(secret.values, o.key) ? secret.values[o.key] : undefined;
    if (value === undefined) {
      throw new NotFoundError(
        `secret '${o.name}' has no key '${o.key}'`,
        `Its keys are: ${listText(Object.keys(secret.values)) || 'none'}.`,
      );
    }
    return {
      data: { name: o.name, key: o.key, value },
      raw: ctx.out.stdoutIsTTY ? `${value}\n` : value,
      reveals: true,
    };
  }
  const rows = Object.entries(secret.values).map(([k, v]) => [k, printable(v)]);
  // `values` stays all strings (the contract scripts rely on); `data` has each value with the JSON
  // type it is stored with (a typed schema's booleans and numbers, or what ZenML wrote).
  const data = { name: secret.name, schema: secret.schema, values: secret.values, data: typedValues(secret) };
  return {
    data,
    text: `Secret '${o.name}' (schema ${secret.schema}):\n${table(['KEY', 'VALUE'], rows)}`,
    reveals: true,
  };
}

/** `secret describe NAME`: what a secret is, without its values. */
export async function secretDescribe(ctx: CommandContext, o: { name: string } & ManagerChoice): Promise<CommandResult> {
  const manager = await selectManager(ctx, o);
  const d = await manager.describe(o.name);
  const time = (t: Date | null) => (t ? t.toISOString() : null);
  const data = {
    name: d.name,
    manager: manager.name,
    scope: manager.scope.scope,
    schema: d.schema,
    keys: d.keys,
    bytes: d.bytes,
    createdAt: time(d.createdAt),
    updatedAt: time(d.updatedAt),
  };
  const rows = [
    ['name', d.name],
    ['manager', manager.where],
    ['schema', d.schema],
    ['keys', listText(d.keys) || '(none)'],
    [
      'size',
      `${d.bytes.toLocaleString('en-US')} bytes (limit ${manager.flavor.maxContentBytes.toLocaleString('en-US')})`,
    ],
    ['created', data.createdAt ?? `unknown (the ${manager.flavor.name} flavor does not say)`],
    ['updated', data.updatedAt ?? `unknown (the ${manager.flavor.name} flavor does not say)`],
  ];
  return { data, text: table(['PROPERTY', 'VALUE'], rows) };
}

export async function secretList(ctx: CommandContext, o: ManagerChoice = {}): Promise<CommandResult> {
  const manager = await selectManager(ctx, o);
  const names = await manager.list();
  if (names.length === 0) ctx.out.note(`No secrets in ${manager.where}.`);
  return { data: { manager: manager.name, scope: manager.scope.scope, secrets: names }, text: names.join('\n') };
}

export interface SecretUpdateOptions extends ManagerChoice {
  args: readonly string[];
  interactive?: boolean | undefined;
  removeKeys?: readonly string[] | undefined;
}

export async function secretUpdate(ctx: CommandContext, o: SecretUpdateOptions): Promise<CommandResult> {
  const { name, pairs } = nameAndPairs(o.args);
  const remove = [...(o.removeKeys ?? [])];
  if (!o.interactive && pairs.size === 0 && remove.length === 0) {
    throw new UsageError(
      `nothing to change in secret '${name}'`,
      'Pass --KEY=VALUE to add or change keys, --remove-key KEY to remove one, or -i.',
    );
  }
  const manager = await selectManager(ctx, o);
  for (const key of pairs.keys()) validateSecretKey(key, manager.scope.prefix);
  let set = expandValues(pairs, { readStdin: await stdinReader(ctx, pairs) });
  if (o.interactive) set = { ...set, ...(await promptChanges(ctx, manager, name)) };
  ctx.out.sensitive(Object.values(set));
  const updated = await manager.patch(name, { set, remove });
  const parts = [];
  if (Object.keys(set).length) parts.push(`set ${listText(Object.keys(set))}`);
  if (remove.length) parts.push(`removed ${listText(remove)}`);
  return {
    data: {
      name,
      schema: updated.schema,
      keys: Object.keys(updated.values),
      set: Object.keys(set),
      removed: remove,
      manager: manager.name,
      scope: manager.scope.scope,
    },
    text: `Updated secret '${name}' in ${manager.where}: ${parts.join('; ') || 'no changes'}.`,
  };
}

export async function secretDelete(
  ctx: CommandContext,
  o: { name: string; yes?: boolean | undefined } & ManagerChoice,
): Promise<CommandResult> {
  const manager = await selectManager(ctx, o);
  if (!o.yes) {
    // A name that is not there is reported as such, not asked about.
    if (!(await manager.has(o.name))) throw new SecretNotFoundError(o.name, manager.where);
    await confirmOrAbort(ctx, `Delete secret '${o.name}' and all its keys from ${manager.where}?`, o.yes);
  }
  await manager.delete(o.name);
  return {
    data: { name: o.name, deleted: true, manager: manager.name, scope: manager.scope.scope },
    text: `Deleted secret '${o.name}' from ${manager.where}.`,
  };
}

export async function secretDeleteAll(
  ctx: CommandContext,
  o: { yes?: boolean | undefined } & ManagerChoice,
): Promise<CommandResult> {
  const manager = await selectManager(ctx, o);
  if (!o.yes) {
    const count = (await manager.list()).length;
    await confirmOrAbort(
      ctx,
      `Delete all ${count} secret${count === 1 ? '' : 's'} of ${manager.where}? Secrets of other scopes are not touched.`,
      o.yes,
    );
  }
  const deleted = await manager.deleteAll();
  return {
    data: { manager: manager.name, scope: manager.scope.scope, deleted },
    text: `Deleted ${deleted} secret${deleted === 1 ? '' : 's'} from ${manager.where}.`,
  };
}

// --- Internal helpers ---

function nameAndPairs(args: readonly string[]) {
  const { positionals, pairs } = parseExtraArgs(args);
  const [name, ...rest] = positionals;
  if (name === undefined)
    throw new UsageError(
      'a secret name is required',
      'Give the name first, e.g. `keystack secret register db --password=@-`.',
    );
  if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`, 'Values are given as --KEY=VALUE.');
  return { name, pairs };
}

/**
 * `--KEY=@-` from a terminal would read what is typed with the terminal's echo on, and with no
 * prompt at all: there, ask for the value with hidden input instead, as `-i` does.
 */
async function stdinReader(ctx: CommandContext, pairs: ReadonlyMap<string, string>): Promise<() => Buffer> {
  const key = [...pairs].find(([, v]) => isStdinValue(v))?.[0];
  if (key === undefined || !ctx.interactive) return ctx.readStdin;
  const typed = await ctx.prompt.secret(`Value for ${key} (input is hidden):`);
  const bytes = Buffer.from(typed, 'utf8');
  return () => bytes;
}

async function promptNewValues(
  ctx: CommandContext,
  schema: SecretSchema<unknown>,
  manager: SecretsManager,
): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  const fields = schemaFields(schema);
  if (fields.length > 0) {
    ctx.out.note(
      `Schema '${schema.name}' has ${fields.length} keys. Input is hidden; press Enter to skip an optional key. @FILE reads a file.`,
    );
    for (const f of fields) {
      const label = `Value for ${f.key}${f.required ? '' : ' (optional)'}${f.default !== undefined ? ` [default ${f.default}]` : ''}:`;
      for (;;) {
        const answer = await ctx.prompt.secret(label);
        if (answer !== '') values[f.key] = expandValue(f.key, answer);
        if (answer !== '' || !f.required) break;
        ctx.out.note(`${f.key} is required.`);
      }
    }
    return values;
  }
  ctx.out.note('Enter keys and values; input of values is hidden. @FILE reads a file.');
  do {
    const entry = await promptKeyValue(ctx, manager);
    if (!entry) continue;
    if (Object.hasOwn(values, entry[0])) ctx.out.warn(`key '${entry[0]}' was already entered; its value is replaced.`);
    values[entry[0]] = entry[1];
  } while (Object.keys(values).length === 0 || (await ctx.prompt.confirm('Add another key?', false)));
  return values;
}

async function promptChanges(
  ctx: CommandContext,
  manager: SecretsManager,
  name: string,
): Promise<Record<string, string>> {
  const current = await manager.get(name);
  const set: Record<string, string> = {};
  ctx.out.note('Input is hidden. Press Enter to keep a value; @FILE reads a file.');
  for (const key of Object.keys(current.values)) {
    const answer = await ctx.prompt.secret(`New value for ${key}:`);
    if (answer !== '') set[key] = expandValue(key, answer);
  }
  while (await ctx.prompt.confirm('Add a new key?', false)) {
    const entry = await promptKeyValue(ctx, manager);
    if (entry) set[entry[0]] = entry[1];
  }
  return set;
}

/** Asks for a key (visible) and its value (hidden); null when the key is not valid. */
async function promptKeyValue(ctx: CommandContext, manager: SecretsManager): Promise<[string, string] | null> {
  const key = (await ctx.prompt.text('Secret key:')).trim();
  try {
    validateSecretKey(key, manager.scope.prefix);
  } catch (e) {
    ctx.out.warn((e as Error).message);
    return null;
  }
  return [key, expandValue(key, await ctx.prompt.secret(`Value for ${key}:`))];
}

/** Control characters would garble the table; show them escaped (`--key` prints raw bytes). */
function printable(v: string): string {
  return v.replace(/[\u0000-\u001f\u007f]/g, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}
