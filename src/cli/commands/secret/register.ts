import { UsageError } from '../../../errors.js';
import type { SecretSchema } from '../../../secrets/schema.js';
import type { SecretsManager } from '../../../core/manager.js';
import type { CommandContext } from '../../context.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { expandValue, expandValues } from '../../input.js';
import { listText } from '../../output.js';
import { selectManager } from '../../select.js';
import { views } from '../../shapes.js';
import { choice, GENERATE_HELP, managerOptions } from './manager-options.js';

export default defineCommand({
  path: 'secret register',
  description:
    'register a secret: --KEY=VALUE, --KEY=@FILE, --KEY=@- (stdin), --KEY=@generate:N (random), or -i for hidden prompts; @@ escapes a leading @',
  arguments: [{ spec: '<name>' }],
  options: [
    ...managerOptions,
    {
      flags: '-s, --schema <schema>',
      description: 'schema (default: arbitrary; see `keystack schema list`)',
      complete: 'schema',
    },
    { flags: '-i, --interactive', description: 'prompt for values with hidden input' },
  ],
  usage: '[options] <name> --KEY=VALUE|--KEY=@FILE|--KEY=@-|--KEY=@generate:N ...',
  keyValues: true,
  help: GENERATE_HELP,
  examples: [
    'printf %s "$PW" | keystack secret register db --user=admin --password=@-',
    'keystack secret register api --token=@generate:40:base64url',
    'keystack secret register aws_creds -s aws -i',
  ],
  shape: (z) => views(z).secretShapes.register,
  run: async (
    ctx,
    { opts, words }: CommandInput<{ schema?: string; interactive?: boolean; manager?: string; stack?: string }>,
  ) => {
    const { validateSecretKey } = await import('../../../secrets/names.js');
    const { nameAndPairs, stdinReader, warnValuesKey } = await import('./values.js');
    const { name, pairs } = nameAndPairs(words);
    if (opts.interactive && pairs.size > 0)
      throw new UsageError(
        'values cannot be passed as arguments together with -i',
        'Use either -i or --KEY=VALUE arguments.',
      );
    if (!opts.interactive && pairs.size === 0)
      throw new UsageError(
        `no values given for secret '${name}'`,
        'Pass --KEY=VALUE, --KEY=@FILE or --KEY=@- arguments, or -i to be prompted.',
      );
    const manager = await selectManager(ctx, choice(opts));
    const schema = await manager.schema(opts.schema ?? 'arbitrary');
    for (const key of pairs.keys()) validateSecretKey(key, manager.scope.prefix);
    const values = opts.interactive
      ? await promptNewValues(ctx, schema, manager)
      : expandValues(pairs, { readStdin: await stdinReader(ctx, pairs) });
    ctx.out.sensitive(Object.values(values));
    const secret = await manager.register(name, values, { schema });
    warnValuesKey(ctx, name, pairs);
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
  },
});

async function promptNewValues(
  ctx: CommandContext,
  schema: SecretSchema<unknown>,
  manager: SecretsManager,
): Promise<Record<string, string>> {
  const { schemaFields } = await import('../../../secrets/schema.js');
  const { promptKeyValue } = await import('./values.js');
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
