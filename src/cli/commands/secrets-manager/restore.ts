import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { InputError } from '../../../errors.js';
import { defineCommand, type CommandInput } from '../../define.js';

export default defineCommand({
  path: 'secrets-manager restore',
  description:
    "restore a local manager's store and key from a backup; checks every secret decrypts before anything is replaced",
  arguments: [
    { spec: '[name]', description: "a local secrets manager (default: the active stack's)", complete: 'manager' },
  ],
  options: [
    { flags: '--from <file>', description: 'a file written by `secrets-manager backup`', required: true },
    { flags: '-f, --force', description: 'replace an existing store (it is moved aside, not deleted)' },
  ],
  examples: [
    'keystack secrets-manager restore --from secrets.backup',
    'keystack secrets-manager restore team --from team.backup -f',
  ],
  shape: (z) =>
    z.strictObject({
      manager: z.string(),
      store: z.string(),
      from: z.string(),
      secrets: z.number().int(),
      keyFile: z.string().nullable(),
      movedAside: z.array(z.string()),
      createdAt: z.string(),
    }),
  run: async (ctx, { args, opts }: CommandInput<{ from: string; force?: boolean }>) => {
    const { defaultStorePath, installLocalBackup, openLocalBackup } = await import('../../../stack/local-store.js');
    const { localStore, passphraseFor } = await import('./local-store.js');
    const { manager, id, file } = await localStore(ctx, args['name']);
    const from = resolve(ctx.cwd, opts.from);
    let text: string;
    try {
      text = readFileSync(from, 'utf8');
    } catch (e) {
      throw new InputError(
        `cannot read ${from} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
        'Give the path of a file written by `keystack secrets-manager backup`.',
      );
    }
    const passphrase = await passphraseFor(ctx, false);
    const backup = openLocalBackup(text, passphrase, from);
    const ks = ctx.keystack();
    // The manager may hold the store open; it must let go before the file is swapped.
    await ks.close();
    const done = installLocalBackup({
      file,
      key: backup.key,
      image: backup.image,
      env: ks.env,
      force: opts.force === true,
    });
    const was = backup.header;
    if (was.managerId !== id) {
      // Component-scoped secrets are keyed on the manager's id: on a new machine the manager that
      // restores them has another one.
      const taken = ks.store.listComponents('secrets_manager').some((r) => r.name === was.manager);
      ctx.out.warn(
        `the backup was made from secrets manager '${was.manager}' (id ${was.managerId}); '${manager}' has another id, so it does not see that manager's component-scoped secrets (global, namespace and none scopes are shared). To use them, register a manager with that id: keystack secrets-manager register ${taken ? `${was.manager}_restored` : was.manager} -f local --uuid=${was.managerId}${file === resolve(defaultStorePath(ks.configDir)) ? '' : ` --path=${file}`}`,
      );
    }
    const aside = done.movedAside.length
      ? `\nThe previous files were moved aside: ${done.movedAside.join(', ')}. Delete them once you no longer need them.`
      : '';
    return {
      data: {
        manager,
        store: file,
        from,
        secrets: done.secrets,
        keyFile: done.keyFile,
        movedAside: done.movedAside,
        createdAt: backup.header.createdAt,
      },
      text: `Restored ${done.secrets} secret${done.secrets === 1 ? '' : 's'} into ${file}${done.keyFile ? ` and its key into ${done.keyFile}` : ' (the key comes from the environment)'}, from the backup of ${backup.header.createdAt}.${aside}`,
    };
  },
});
