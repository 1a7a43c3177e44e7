import { defineCommand, type CommandInput } from '../../define.js';
import { listText, table } from '../../output.js';
import { selectManager } from '../../select.js';
import { choice, managerOptions } from './manager-options.js';

export default defineCommand({
  path: 'secret history',
  description: "list a secret's versions, newest first, with the keys each changed and who wrote it (no values)",
  arguments: [{ spec: '<name>', complete: 'secret' }],
  options: [
    { flags: '-n, --limit <n>', description: 'show at most this many versions', default: '10' },
    ...managerOptions,
  ],
  help: `
Each version shows its id, when it was created, its labels (current, previous and the backend's own
stages), its keys, the keys it added (+), removed (-) and changed (~) from the version before, and
who wrote it where keystack recorded it (user@host for CLI writes). What changed is found by
comparing keyed fingerprints of the values, never by printing them. Versions written by other
tools show no writer. github keeps no versions; see docs/versions.md for what each backend keeps.
`,
  examples: [
    'keystack secret history db',
    'keystack secret history db --limit 3 --json',
    'keystack secret get db --version previous   # read one of them',
  ],
  shape: (z) => {
    const keys = z.array(z.string());
    return z.strictObject({
      name: z.string(),
      manager: z.string(),
      versions: z.array(
        z.strictObject({
          version: z.string(),
          createdAt: z.string().nullable(),
          labels: keys,
          readable: z.boolean(),
          keys: keys.nullable(),
          changes: z.strictObject({ added: keys, removed: keys, changed: keys }).nullable(),
          writer: z.string().nullable(),
        }),
      ),
    });
  },
  run: async (ctx, { args, opts }: CommandInput<{ limit: string; manager?: string; stack?: string }>) => {
    const { UsageError } = await import('../../../errors.js');
    const limit = Number(opts.limit);
    if (!/^\d+$/.test(opts.limit) || limit < 1)
      throw new UsageError(`--limit must be a whole number above 0, not '${opts.limit}'`);
    const manager = await selectManager(ctx, choice(opts));
    const name = args['name'] ?? '';
    const list = await manager.history(name, { limit });
    const versions = list.map((v) => ({ ...v, createdAt: v.createdAt ? v.createdAt.toISOString() : null }));
    const changed = (c: (typeof list)[number]['changes']) =>
      c
        ? [...c.added.map((k) => `+${k}`), ...c.removed.map((k) => `-${k}`), ...c.changed.map((k) => `~${k}`)].join(
            ' ',
          ) || '(same values)'
        : '';
    const rows = versions.map((v) => [
      v.version,
      v.createdAt ?? 'unknown',
      v.labels.join(', '),
      v.keys ? listText(v.keys, 8) : v.readable ? '' : '(retired)',
      changed(v.changes),
      v.writer ?? '',
    ]);
    return {
      data: { name, manager: manager.name, versions },
      text: `Secret '${name}' in ${manager.where}:\n${table(['VERSION', 'CREATED', 'LABELS', 'KEYS', 'CHANGED', 'WRITER'], rows)}`,
    };
  },
});
