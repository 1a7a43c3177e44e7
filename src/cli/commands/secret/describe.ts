import { defineCommand, type CommandInput } from '../../define.js';
import { listText, table } from '../../output.js';
import { selectManager } from '../../select.js';
import { views } from '../../shapes.js';
import { choice, managerOptions } from './manager-options.js';

export default defineCommand({
  path: 'secret describe',
  description: "show a secret's schema, key names, size and times, without its values",
  arguments: [{ spec: '<name>', complete: 'secret' }],
  options: managerOptions,
  examples: ['keystack secret describe db', 'keystack secret describe db --stack prod --json'],
  shape: (z) => views(z).secretShapes.describe,
  run: async (ctx, { args, opts }: CommandInput<{ manager?: string; stack?: string }>) => {
    const manager = await selectManager(ctx, choice(opts));
    const d = await manager.describe(args['name'] ?? '');
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
  },
});
