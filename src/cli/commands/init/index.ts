/**
 * `keystack init`: writes the project file `keystack.toml` in the working directory, so that
 * commands run in this checkout use its stack and secrets manager (src/cli/project-file.ts).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExistsError } from '../../../errors.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { PROJECT_FILE, projectFileText } from '../../project-file.js';

export interface InitOptions {
  stack?: string;
  manager?: string;
  force?: boolean;
}

export default defineCommand({
  path: 'init',
  description: 'write keystack.toml here: the stack and secrets manager commands in this directory use',
  options: [
    { flags: '--stack <name>', description: 'stack this project uses (default: the active stack)', complete: 'stack' },
    {
      flags: '-m, --manager <name>',
      description: "secrets manager secret commands here use (default: the stack's)",
      complete: 'manager',
    },
    { flags: '--force', description: 'overwrite an existing keystack.toml' },
  ],
  examples: [
    'keystack init --stack dev',
    'keystack init --stack dev -m team',
    'keystack init --stack prod --force   # replace the file',
  ],
  help: `The file holds names only, never secrets: commit it. Commands find the nearest keystack.toml at
or above the working directory, up to $HOME. Precedence, first match wins: the -m/--stack flags,
then $KEYSTACK_MANAGER/$KEYSTACK_STACK, then keystack.toml, then the active stack. A keystack.toml
that another user can write is refused. \`keystack status\` shows which one applied.`,
  shape: (z) =>
    z.strictObject({
      file: z.string(),
      stack: z.string().nullable(),
      manager: z.string().nullable(),
      overwritten: z.boolean(),
    }),
  run: async (ctx, { opts }: CommandInput<InitOptions>) => {
    const ks = ctx.keystack();
    // Names are checked, and stored as registered (a UUID given to -m becomes the manager's name).
    const manager =
      opts.manager === undefined ? undefined : ks.store.getComponent('secrets_manager', opts.manager).name;
    const stack =
      opts.stack !== undefined
        ? ks.store.getStack(opts.stack).name
        : manager === undefined
          ? ks.activeStack().name
          : undefined;
    const file = join(ctx.cwd, PROJECT_FILE);
    const existed = existsSync(file);
    if (existed && !opts.force)
      throw new ExistsError(
        `${file} already exists`,
        'Pass --force to overwrite it, or edit it: stack = "NAME", manager = "NAME".',
      );
    writeFileSync(file, projectFileText({ stack, manager }), { mode: 0o644, flag: opts.force ? 'w' : 'wx' });
    const what = [stack && `stack '${stack}'`, manager && `secrets manager '${manager}'`].filter(Boolean).join(' and ');
    return {
      data: { file, stack: stack ?? null, manager: manager ?? null, overwritten: existed },
      text: `Wrote ${file}: commands run here use ${what}. Check with \`keystack status\`.`,
    };
  },
});
