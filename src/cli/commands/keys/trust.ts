import { defineCommand, type CommandInput } from '../../define.js';
import { keyShapes, role, roleOption } from './role.js';

export default defineCommand({
  path: 'keys trust',
  description:
    'trust a public key: a worker key on a client (the default), or a client key on a worker (--role client)',
  arguments: [{ spec: '<key>', description: 'the key line printed by `keys show-public`, or a file holding it' }],
  options: [
    roleOption('worker (the default) or client'),
    { flags: '--name <name>', description: 'a note kept beside the key, e.g. the host' },
  ],
  examples: [
    "keystack keys trust worker.pub --name gpu-box-1      # on the client: record this worker's results",
    "keystack keys trust --role client client.pub        # on a worker: run this client's jobs",
  ],
  /** `added` is false when the key was trusted already; `file` is the trust list. */
  shape: (z) => {
    const k = keyShapes(z);
    return z.strictObject({ role: k.keyRole, id: k.keyId, added: z.boolean(), file: z.string() });
  },
  run: async (ctx, { args, opts }: CommandInput<{ role?: string; name?: string }>) => {
    const { addTrusted, publicKeyArgument, trustListFile } = await import('../../../pipeline/remote/keys.js');
    const r = role(opts.role ?? 'worker');
    const key = publicKeyArgument(args['key'] ?? '');
    const configDir = ctx.keystack().configDir;
    const added = addTrusted(configDir, r, key, opts.name);
    const what =
      r === 'client'
        ? 'jobs signed with it run on this worker'
        : 'step results signed with it are recorded by this client';
    return {
      data: { role: r, id: key.id, added, file: trustListFile(configDir, r) },
      text: added
        ? `Trusted ${r} key ${key.id}${opts.name ? ` (${opts.name})` : ''}: ${what}.`
        : `${r} key ${key.id} was already trusted.`,
    };
  },
});
