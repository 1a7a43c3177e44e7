import { UsageError } from '../../../errors.js';
import type { SecretsManager } from '../../../core/manager.js';
import type { CommandContext } from '../../context.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { expandValue, expandValues } from '../../input.js';
import { listText } from '../../output.js';
import { selectManager } from '../../select.js';
import { views } from '../../shapes.js';
import { choice, GENERATE_HELP, managerOptions } from './manager-options.js';

export default defineCommand({
  path: 'secret update',
  description: 'merge --KEY=VALUE into a secret, remove keys with --remove-key, or -i to edit with prompts',
  arguments: [{ spec: '<name>', complete: 'secret' }],
  options: [
    ...managerOptions,
    { flags: '-i, --interactive', description: 'prompt for new values with hidden input' },
    { flags: '--remove-key <key>', description: 'remove a key (repeatable)', repeatable: 'optional' },
  ],
  usage: '[options] <name> [--KEY=VALUE ...] [--remove-key KEY ...]',
  keyValues: true,
  help: GENERATE_HELP,
  examples: [
    'keystack secret update db --password=@- --remove-key old_key',
    'keystack secret update db --password=@generate:32',
    'keystack secret update db -i',
  ],
  shape: (z) => views(z).secretShapes.update,
  run: async (
    ctx,
    { opts, words }: CommandInput<{ interactive?: boolean; removeKey?: string[]; manager?: string; stack?: string }>,
  ) => {
    const { validateSecretKey } = await import('../../../secrets/names.js');
    const { nameAndPairs, stdinReader, warnValuesKey } = await import('./values.js');
    const { name, pairs } = nameAndPairs(words);
    const remove = [...(opts.removeKey ?? [])];
    if (!opts.interactive && pairs.size === 0 && remove.length === 0) {
      throw new UsageError(
        `nothing to change in secret '${name}'`,
        'Pass --KEY=VALUE to add or change keys, --remove-key KEY to remove one, or -i.',
      );
    }
    const manager = await selectManager(ctx, choice(opts));
    for (const key of pairs.keys()) validateSecretKey(key, manager.scope.prefix);
    let set = expandValues(pairs, { readStdin: await stdinReader(ctx, pairs) });
    if (opts.interactive) set = { ...set, ...(await promptChanges(ctx, manager, name)) };
    ctx.out.sensitive(Object.values(set));
    const updated = await manager.patch(name, { set, remove });
    warnValuesKey(ctx, name, pairs, true);
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
  },
});

async function promptChanges(
  ctx: CommandContext,
  manager: SecretsManager,
  name: string,
): Promise<Record<string, string>> {
  const { promptKeyValue } = await import('./values.js');
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
