/**
 * `keystack secrets-manager backup|restore`: a local store and its key, in one file sealed with a
 * passphrase (the format and why: src/flavors/local/backup.ts).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultStorePath } from '../../stack/local-store.js';
import { installLocalBackup, openLocalBackup, sealLocalBackup, writePrivateFile } from '../../stack/local-store.js';
import { ConfigError, InputError, UsageError } from '../../errors.js';
import type { CommandContext, CommandResult } from '../context.js';

export const BACKUP_PASSPHRASE_ENV = 'KEYSTACK_BACKUP_PASSPHRASE';

export async function managerBackup(
  ctx: CommandContext,
  o: { name?: string | undefined; out: string; force?: boolean | undefined },
): Promise<CommandResult> {
  const { manager, id, file } = await localStore(ctx, o.name);
  const out = resolve(ctx.cwd, o.out);
  const passphrase = await passphraseFor(ctx, true);
  const { text, header } = sealLocalBackup({
    file,
    env: ctx.keystack().env,
    manager,
    managerId: id,
    passphrase,
    warn: (m) => ctx.out.warn(m),
  });
  writePrivateFile(out, text, { replace: o.force === true });
  return {
    data: {
      manager,
      store: file,
      out,
      secrets: header.secrets,
      keySource: header.keySource,
      createdAt: header.createdAt,
    },
    text: `Backed up ${header.secrets} secret${header.secrets === 1 ? '' : 's'} of ${file} (every scope in it) with its key to ${out} (mode 0600, sealed with the passphrase).\nKeep the passphrase apart from the file. Restore with: keystack secrets-manager restore ${manager} --from ${o.out}`,
  };
}

export async function managerRestore(
  ctx: CommandContext,
  o: { name?: string | undefined; from: string; force?: boolean | undefined },
): Promise<CommandResult> {
  const { manager, id, file } = await localStore(ctx, o.name);
  const from = resolve(ctx.cwd, o.from);
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
  const done = installLocalBackup({ file, key: backup.key, image: backup.image, env: ks.env, force: o.force === true });
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
}

/** The store file of a local manager (default: the active stack's). */
async function localStore(
  ctx: CommandContext,
  name: string | undefined,
): Promise<{ manager: string; id: string; file: string }> {
  const ks = ctx.keystack();
  const sm = await ks.secretsManager(name);
  if (sm.flavor.name !== 'local') {
    throw new ConfigError(
      `secrets manager '${sm.name}' has flavor ${sm.flavor.name}; backup and restore are for local stores`,
      {
        hint: 'Back up a cloud or server backend with its own tools; its secrets are not on this machine.',
      },
    );
  }
  const path = ks.store.getComponent('secrets_manager', sm.uuid).config['path'];
  return {
    manager: sm.name,
    id: sm.uuid,
    file: resolve(typeof path === 'string' ? path : defaultStorePath(ks.configDir)),
  };
}

/** KEYSTACK_BACKUP_PASSPHRASE, else a hidden prompt on a terminal (twice when making a backup). */
async function passphraseFor(ctx: CommandContext, confirm: boolean): Promise<string> {
  const fromEnv = ctx.keystack().env[BACKUP_PASSPHRASE_ENV];
  let passphrase: string;
  if (fromEnv) passphrase = fromEnv;
  else if (ctx.interactive) {
    passphrase = await ctx.prompt.secret('Backup passphrase (hidden):');
    if (confirm && (await ctx.prompt.secret('The same passphrase again:')) !== passphrase) {
      throw new InputError(
        'the two passphrases differ; nothing was written',
        'Run the command again and type the same passphrase twice.',
      );
    }
  } else {
    throw new UsageError(
      'no backup passphrase',
      `Set ${BACKUP_PASSPHRASE_ENV}, or run the command in a terminal to be asked for it.`,
    );
  }
  ctx.out.sensitive([passphrase]);
  return passphrase;
}
