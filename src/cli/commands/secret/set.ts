import { UsageError } from '../../../errors.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { expandValues } from '../../input.js';
import { listText } from '../../output.js';
import { selectManager } from '../../select.js';
import { views } from '../../shapes.js';
import { choice, managerOptions } from './manager-options.js';

export default defineCommand({
  path: 'secret set',
  description:
    'create a secret, or merge --KEY=VALUE into it if it exists (--KEY=@FILE, --KEY=@- for stdin; @@ escapes a leading @)',
  arguments: [{ spec: '<name>', complete: 'secret' }],
  options: [
    ...managerOptions,
    {
      flags: '-s, --schema <schema>',
      description: 'schema when it creates the secret (default: arbitrary); an existing secret must already have it',
      complete: 'schema',
    },
    {
      flags: '--remove-key <key>',
      description: 'also remove a key when the secret exists (repeatable)',
      repeatable: 'optional',
    },
  ],
  usage: '[options] <name> --KEY=VALUE|--KEY=@FILE|--KEY=@- ... [--remove-key KEY ...]',
  keyValues: true,
  help: '\nSafe to run again: the same command creates the secret the first time and sets the same values after that. The merge is the compare-and-set of `secret update`; if another writer creates the secret at the same moment, the values are merged into theirs.\n',
  examples: [
    'printf %s "$PW" | keystack secret set db --user=admin --password=@-',
    'keystack secret set aws_creds -s aws --aws_access_key_id=@key.txt --aws_secret_access_key=@-',
  ],
  shape: (z) => views(z).secretShapes.set,
  run: async (
    ctx,
    { opts, words }: CommandInput<{ schema?: string; removeKey?: string[]; manager?: string; stack?: string }>,
  ) => {
    const { validateSecretKey } = await import('../../../secrets/names.js');
    const { nameAndPairs, stdinReader } = await import('./values.js');
    const { name, pairs } = nameAndPairs(words);
    if (pairs.size === 0) {
      throw new UsageError(
        `no values given for secret '${name}'`,
        'Pass --KEY=VALUE, --KEY=@FILE or --KEY=@- arguments (use `keystack secret update` to only remove keys).',
      );
    }
    const remove = [...(opts.removeKey ?? [])];
    const manager = await selectManager(ctx, choice(opts));
    const schema = opts.schema === undefined ? undefined : await manager.schema(opts.schema);
    for (const key of pairs.keys()) validateSecretKey(key, manager.scope.prefix);
    const set = expandValues(pairs, { readStdin: await stdinReader(ctx, pairs) });
    ctx.out.sensitive(Object.values(set));
    const { secret, created } = await manager.upsert(name, { set, remove }, schema ? { schema } : {});
    const keys = Object.keys(secret.values);
    const removed = created ? [] : remove;
    if (created && remove.length > 0)
      ctx.out.note(`--remove-key ${listText(remove)}: nothing to remove from a new secret.`);
    const parts = [`set ${listText(Object.keys(set))}`];
    if (removed.length) parts.push(`removed ${listText(removed)}`);
    return {
      data: {
        name,
        schema: secret.schema,
        created,
        keys,
        set: Object.keys(set),
        removed,
        manager: manager.name,
        scope: manager.scope.scope,
      },
      text: created
        ? `Created secret '${name}' (schema ${secret.schema}; keys: ${listText(keys)}) in ${manager.where}.`
        : `Updated secret '${name}' in ${manager.where}: ${parts.join('; ')}.`,
    };
  },
});
