import { defineCommand, type CommandInput } from '../../define.js';
import { keyShapes, role, roleOption } from './role.js';

export default defineCommand({
  path: 'keys show-public',
  description: "print this machine's public key (created on first use), to give to workers or clients",
  options: [roleOption('client (signs runs; the default) or worker (signs step results)')],
  examples: [
    'keystack keys show-public > client.pub            # on the client: give it to each worker',
    'keystack keys show-public --role worker > worker.pub   # on a worker: give it to the client',
  ],
  /** `file` is the private key file (never its content); `publicKey` is the line to give to the other side. */
  shape: (z) => {
    const k = keyShapes(z);
    return z.strictObject({ role: k.keyRole, id: k.keyId, publicKey: k.publicKey, file: z.string() });
  },
  run: async (ctx, { opts }: CommandInput<{ role?: string }>) => {
    const { ownKey } = await import('../../../pipeline/remote/keys.js');
    const r = role(opts.role);
    const key = ownKey(ctx.keystack().configDir, r);
    return { data: { role: r, id: key.id, publicKey: key.text, file: key.file }, raw: `${key.text}\n` };
  },
});
