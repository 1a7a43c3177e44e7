import { defineCommand, type CommandInput } from '../../define.js';
import { selectManager } from '../../select.js';
import { choice, managerOptions } from './manager-options.js';

export default defineCommand({
  path: 'secret diff',
  description: 'show the keys added, removed and changed between two versions of a secret (no values)',
  arguments: [
    { spec: '<name>', complete: 'secret' },
    { spec: '[from]', description: 'the older version (default: previous)' },
    { spec: '[to]', description: 'the newer version (default: current)' },
  ],
  options: managerOptions,
  help: `
A version is a number or id as \`keystack secret history NAME\` lists it, or previous or current.
Values are compared by keyed fingerprints made for this one command; no value, nor a hash of one,
is printed.
`,
  examples: ['keystack secret diff db', 'keystack secret diff db 3 5', 'keystack secret diff db 3 current --json'],
  shape: (z) => {
    const keys = z.array(z.string());
    return z.strictObject({
      name: z.string(),
      manager: z.string(),
      from: z.string(),
      to: z.string(),
      added: keys,
      removed: keys,
      changed: keys,
    });
  },
  run: async (ctx, { args, opts }: CommandInput<{ manager?: string; stack?: string }>) => {
    const manager = await selectManager(ctx, choice(opts));
    const d = await manager.diff(args['name'] ?? '', args['from'], args['to']);
    const lines = [
      ...d.added.map((k) => `  + ${k}`),
      ...d.removed.map((k) => `  - ${k}`),
      ...d.changed.map((k) => `  ~ ${k}`),
    ];
    return {
      data: {
        name: d.name,
        manager: manager.name,
        from: d.from,
        to: d.to,
        added: d.added,
        removed: d.removed,
        changed: d.changed,
      },
      text: `Secret '${d.name}', version ${d.from} → ${d.to}:\n${lines.length > 0 ? lines.join('\n') : '  (no key added, removed or changed)'}`,
    };
  },
});
