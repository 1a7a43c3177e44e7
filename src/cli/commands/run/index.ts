/**
 * `keystack run [options] [--] CMD [ARGS...]`: runs a command with secrets in its environment
 * (child.ts starts it once the options are read). Everything from CMD on is the command's,
 * its options included, with or without `--`.
 */
import { defineCommand, type CommandInput } from '../../define.js';
import { CHOOSER_OPTIONS, type ManagerChoice } from '../../select.js';
import { FORWARDED_SIGNALS, ISOLATED_ENV } from './passed-on.js';

export interface RunFlags extends ManagerChoice {
  envFile?: string[];
  secret?: string[];
  env?: string[];
  mount?: string[];
  prefix?: string;
  isolated?: boolean;
  mask?: boolean;
}

export default defineCommand({
  path: 'run',
  description: 'run a command with secrets in its environment: keystack run [options] [--] CMD [ARGS...]',
  arguments: [
    { spec: '<command>', description: 'the command (`--` before it is optional; everything from here on is its own)' },
    { spec: '[args...]', description: 'its arguments' },
  ],
  options: [
    {
      flags: '--env-file <file>',
      description: '.env file whose values may be {{name.key}} references (repeatable; later files win)',
      repeatable: 'optional',
    },
    {
      flags: '-s, --secret <name[@version][.key]>',
      description: 'inject every key of a secret as NAME_KEY, or one key; name@V pins version V (repeatable)',
      repeatable: 'optional',
    },
    {
      flags: '--env <var=value>',
      description: 'set VAR to a {{name.key}} reference or plain text (repeatable; wins over env files)',
      repeatable: 'optional',
    },
    {
      flags: '--mount <var=template>',
      description:
        'render a {{name.key}} template file to a 0600 file that exists only while the command runs, and set VAR to its path (repeatable)',
      repeatable: 'optional',
    },
    { flags: '--prefix <prefix>', description: 'prefix for the variable names of -s, e.g. APP_' },
    {
      flags: '--isolated',
      description: `start the command with only the injected variables and ${ISOLATED_ENV.join(', ')}`,
    },
    {
      flags: '--mask',
      description:
        "mask secret values in the command's stdout and stderr (the default; the command then writes to pipes, not the terminal)",
    },
    {
      flags: '--no-mask',
      description:
        'pass stdout and stderr on untouched, terminal included (colours, progress bars, full-screen programs)',
    },
    ...CHOOSER_OPTIONS,
  ],
  passThrough: true,
  help: `
Everything from the command on is passed to it, options included: \`keystack run python -u x.py -s 1\` gives -s to python.
keystack's own options go before the command; \`--\` before it is optional (it is needed for a command whose name starts with -).
--json is the exception: it is keystack's anywhere before \`--\`, so write \`--\` before a command that takes --json itself.
Variable names for -s: NAME_KEY upper-cased, characters other than A-Z, 0-9 and _ replaced by _.
Pins: -s db@3 (or db@previous) injects version 3 of db under the same names as -s db; {{db@3.password}} works in env files, --env and --mount templates.
--mount VAR=TEMPLATE is for tools that read a file, not a variable: the rendered file is mode 0600, in a 0700 directory under TMPDIR, and is removed when the command exits (or fails to start).
${FORWARDED_SIGNALS.join(', ')} are passed on to the command; keystack exits with its exit code, or 128+N if it died of signal N.
Example: keystack run --env-file .env -s db -- python train.py`,
  examples: [
    'keystack run --env-file .env -s db -- python train.py',
    'keystack run --isolated --env TOKEN={{api.token}} -- ./deploy.sh',
    'keystack run -s db@previous -- ./check-old-credential.sh',
    'keystack run --mount KUBECONFIG=kubeconfig.tmpl -- kubectl get pods',
  ],
  /** Printed after the command's own output, which passes through untouched. */
  shape: (z) => z.strictObject({ exitCode: z.number().int() }),
  run: async (ctx, { words, opts }: CommandInput<RunFlags>) => {
    const { runCommand } = await import('./child.js');
    // `<command> [args...]`: the words after the options (`args` types each argument as one string).
    const [command = '', ...args] = words;
    return runCommand(ctx, {
      command,
      args,
      envFiles: opts.envFile,
      secrets: opts.secret,
      env: opts.env,
      mounts: opts.mount,
      prefix: opts.prefix,
      isolated: opts.isolated,
      mask: opts.mask,
      manager: opts.manager,
      stack: opts.stack,
    });
  },
});
