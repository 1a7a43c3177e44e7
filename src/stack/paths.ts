import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** `KEYSTACK_CONFIG_DIR`, else `$XDG_CONFIG_HOME/keystack`, else `~/.config/keystack`. */
export function configDirFrom(env: Readonly<Record<string, string | undefined>>): string {
  if (env['KEYSTACK_CONFIG_DIR']) return resolve(env['KEYSTACK_CONFIG_DIR']);
  if (env['XDG_CONFIG_HOME']) return resolve(env['XDG_CONFIG_HOME'], 'keystack');
  return join(homedir(), '.config', 'keystack');
}
