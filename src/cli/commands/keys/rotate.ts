import { defineCommand, type CommandInput } from '../../define.js';
import { keyShapes, role, roleOption } from './role.js';

export default defineCommand({
  path: 'keys rotate',
  description: 'roll a key over: first prepare the next key and trust it everywhere, then --activate it',
  options: [
    roleOption('client (the default) or worker'),
    { flags: '--activate', description: 'make the prepared key the one in use (the old one is kept, retired)' },
  ],
  examples: [
    'keystack keys rotate                # prints the next key: trust it on every worker',
    'keystack keys rotate --activate     # then sign with it; untrust the old id on the workers',
  ],
  shape: (z) => {
    const k = keyShapes(z);
    return z.union([
      z.strictObject({ role: k.keyRole, phase: z.literal('prepared'), id: k.keyId, publicKey: k.publicKey }),
      /** `retired` is the id of the key this one replaced: untrust it on the other side once nothing signed with it is in flight. */
      z.strictObject({
        role: k.keyRole,
        phase: z.literal('activated'),
        id: k.keyId,
        publicKey: k.publicKey,
        retired: k.keyId,
      }),
    ]);
  },
  run: async (ctx, { opts }: CommandInput<{ role?: string; activate?: boolean }>) => {
    const { activateNextKey, nextKey, ownKey } = await import('../../../pipeline/remote/keys.js');
    const r = role(opts.role);
    const configDir = ctx.keystack().configDir;
    const other = r === 'client' ? 'worker' : 'client';
    if (opts.activate) {
      const { retired, current } = activateNextKey(configDir, r);
      return {
        data: { role: r, phase: 'activated' as const, id: current.id, publicKey: current.text, retired: retired.id },
        text: `The ${r} key is now ${current.id}; the old key ${retired.id} is kept as ${retired.file}. Once nothing signed with it is in flight, remove it from every ${other}'s trust list (\`keystack keys untrust --role ${r} ${retired.id}\`).`,
      };
    }
    const next = nextKey(configDir, r, true) ?? ownKey(configDir, r);
    return {
      data: { role: r, phase: 'prepared' as const, id: next.id, publicKey: next.text },
      text: `Next ${r} key: ${next.text}\nTrust it on every ${other} (keep the current key trusted too), then run \`keystack keys rotate --role ${r} --activate\`.`,
    };
  },
});
