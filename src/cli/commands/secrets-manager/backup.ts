import { resolve } from 'node:path';
import { defineCommand, type CommandInput } from '../../define.js';

export default defineCommand({
  path: 'secrets-manager backup',
  description:
    "back up a local manager's store file (every scope in it) together with its key, sealed with a passphrase ($KEYSTACK_BACKUP_PASSPHRASE, else asked)",
  arguments: [
    { spec: '[name]', description: "a local secrets manager (default: the active stack's)", complete: 'manager' },
  ],
  options: [
    { flags: '-o, --out <file>', description: 'the backup file to write (mode 0600)', required: true },
    { flags: '-f, --force', description: 'replace the file if it exists' },
  ],
  help: "\nThe backup is the whole store file, so it holds the older versions the store keeps (max_versions per secret) as well as the current ones. Backups of other flavors' secrets are the backend's own business; `keystack export` and `secret copy` carry only the current version.\n",
  examples: [
    'KEYSTACK_BACKUP_PASSPHRASE=... keystack secrets-manager backup -o secrets.backup',
    'keystack secrets-manager backup team -o team.backup -f',
  ],
  shape: (z) =>
    z.strictObject({
      manager: z.string(),
      store: z.string(),
      out: z.string(),
      secrets: z.number().int(),
      keySource: z.enum(['key-file', 'env-key', 'passphrase']),
      createdAt: z.string(),
    }),
  run: async (ctx, { args, opts }: CommandInput<{ out: string; force?: boolean }>) => {
    const { sealLocalBackup, writePrivateFile } = await import('../../../stack/local-store.js');
    const { localStore, passphraseFor } = await import('./local-store.js');
    const { manager, id, file } = await localStore(ctx, args['name']);
    const out = resolve(ctx.cwd, opts.out);
    const passphrase = await passphraseFor(ctx, true);
    const { text, header } = sealLocalBackup({
      file,
      env: ctx.keystack().env,
      manager,
      managerId: id,
      passphrase,
      warn: (m) => ctx.out.warn(m),
    });
    writePrivateFile(out, text, { replace: opts.force === true });
    return {
      data: {
        manager,
        store: file,
        out,
        secrets: header.secrets,
        keySource: header.keySource,
        createdAt: header.createdAt,
      },
      text: `Backed up ${header.secrets} secret${header.secrets === 1 ? '' : 's'} of ${file} (every scope in it) with its key to ${out} (mode 0600, sealed with the passphrase).\nKeep the passphrase apart from the file. Restore with: keystack secrets-manager restore ${manager} --from ${opts.out}`,
    };
  },
});
