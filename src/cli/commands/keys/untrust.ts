import { UsageError } from '../../../errors.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { keyShapes, role, roleOption } from './role.js';

export default defineCommand({
  path: 'keys untrust',
  description: 'stop trusting a key (by id, name or key line)',
  arguments: [{ spec: '<key>', complete: 'trusted-key' }],
  options: [roleOption('worker (the default) or client')],
  examples: ['keystack keys untrust gpu-box-1', 'keystack keys untrust --role client 3f2a9c0d1e2b4a5f'],
  shape: (z) => z.strictObject({ role: keyShapes(z).keyRole, removed: z.literal(true) }),
  run: async (ctx, { args, opts }: CommandInput<{ role?: string }>) => {
    const { removeTrusted } = await import('../../../pipeline/remote/keys.js');
    const key = args['key'] ?? '';
    const r = role(opts.role ?? 'worker');
    const removed = removeTrusted(ctx.keystack().configDir, r, key);
    if (!removed) throw new UsageError(`no trusted ${r} key matches '${key}'`, `See them with \`keystack keys list\`.`);
    return { data: { role: r, removed: true as const }, text: `No longer trusting that ${r} key.` };
  },
});
