/**
 * What `secrets-manager backup` and `restore` share: the store file of a local manager, and the
 * passphrase its backup is sealed with (the format and why: src/flavors/local/backup.ts).
 */
import { resolve } from 'node:path';
import { defaultStorePath } from '../../../stack/local-store.js';
import { ConfigError, InputError, UsageError } from '../../../errors.js';
import type { CommandContext } from '../../context.js';

export const BACKUP_PASSPHRASE_ENV = 'KEYSTACK_BACKUP_PASSPHRASE';

/** The store file of a local manager (default: the active stack's). */
export async function localStore(
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
export async function passphraseFor(ctx: CommandContext, confirm: boolean): Promise<string> {
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
