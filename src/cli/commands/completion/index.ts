/**
 * `keystack completion bash|zsh|fish`: prints a shell completion script (scripts.ts); the script
 * asks the hidden `keystack __complete` (complete.ts) for the candidates on each Tab.
 */
import { UsageError } from '../../../errors.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { SCRIPTS, SHELLS, type Shell } from './scripts.js';

export default defineCommand({
  path: 'completion',
  description: 'print a shell completion script (bash, zsh or fish)',
  arguments: [{ spec: '<shell>', description: 'bash | zsh | fish', complete: 'shell' }],
  examples: [
    'source <(keystack completion bash)      # in ~/.bashrc',
    'keystack completion fish > ~/.config/fish/completions/keystack.fish',
  ],
  shape: (z) => z.strictObject({ shell: z.enum(SHELLS), script: z.string() }),
  run: async (_ctx, { args }: CommandInput) => {
    const shell = args['shell'] ?? '';
    if (!isShell(shell))
      throw new UsageError(
        `no completion for shell '${shell}'`,
        `Pick one of: ${SHELLS.join(', ')}, e.g. \`source <(keystack completion bash)\`.`,
      );
    const script = SCRIPTS[shell];
    return { data: { shell, script }, raw: script };
  },
});

function isShell(s: string): s is Shell {
  return (SHELLS as readonly string[]).includes(s);
}
