import { UsageError } from '../../../errors.js';
import { table } from '../../output.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';
import { choice, managerOptions } from './manager-options.js';

interface UsedByFlags {
  key?: string;
  version?: string;
  since?: string;
  value?: string;
  manager?: string;
  stack?: string;
}

export default defineCommand({
  path: 'secret used-by',
  description: 'which runs, steps, workers and versions read a secret, or which secret holds a leaked value',
  summary: 'which runs read a secret (or a leaked value)',
  arguments: [{ spec: '[name]', description: 'the secret (omit with --value)', complete: 'secret' }],
  options: [
    { flags: '--key <key>', description: 'only accesses of this key' },
    {
      flags: '--version <version>',
      description: "only reads of this backend version id, or of the version now labelled 'previous' or 'current'",
    },
    { flags: '--since <date>', description: 'only accesses since an ISO date or time, or an age (12h, 7d)' },
    {
      flags: '--value <source>',
      description: 'the leaked-value question: @- (standard input) or @FILE, never the value itself',
    },
    ...managerOptions,
  ],
  help: [
    'With NAME: every recorded access of that secret by a pipeline run (step, component or',
    'orchestrator), newest first, with the worker, the backend version read and the outcome; denied',
    'reads are listed as denied. -m/--stack narrow it to one secrets manager. --version previous',
    "(or current) asks the manager (-m, default the active stack's) which version id has that label",
    'now, and lists the reads of that id in that manager.',
    '',
    'With --value @- (or @FILE): keystack fingerprints the value with the provenance key (HMAC-SHA256)',
    "and lists the secrets and keys of the manager (-m, default the active stack's) whose current",
    'value it is, then every run that read a value with that fingerprint. The value is never printed,',
    'kept or put in an error. @- drops one trailing newline; @FILE is taken byte for byte. A value',
    'given on the command line is refused: it would be in the shell history and the process list.',
  ].join('\n'),
  examples: [
    'keystack secret used-by db',
    'keystack secret used-by db --key password --since 7d',
    'keystack secret used-by db --version 3 --json',
    'keystack secret used-by db --version previous --since 7d',
    'pbpaste | keystack secret used-by --value @-',
    'keystack secret used-by --value @leaked.txt -m prod',
  ],
  shape: (z) => {
    const v = views(z);
    return z.union([
      z.strictObject({ secret: z.string(), accesses: z.array(v.access) }),
      z.strictObject({
        manager: z.strictObject({ uuid: z.string(), name: z.string(), flavor: z.string() }),
        current: z.array(z.strictObject({ secret: z.string(), key: z.string() })),
        unreadable: z.array(z.strictObject({ secret: z.string(), errorCode: z.string() })),
        reads: z.array(z.strictObject({ ...v.access.shape, key: z.string() })),
      }),
    ]);
  },
  run: async (ctx, { args, opts }: CommandInput<UsedByFlags>) => {
    const name = args['name'];
    const { accessRows } = await import('../pipeline/format.js');
    if (opts.value !== undefined) {
      if (name !== undefined)
        throw new UsageError('give a secret NAME or --value, not both', 'Ask one question at a time.');
      for (const [flag, given] of [
        ['--key', opts.key],
        ['--version', opts.version],
        ['--since', opts.since],
      ] as const)
        if (given !== undefined) throw new UsageError(`${flag} does not apply to --value`);
      const value = await readValue(ctx, opts.value);
      // Whatever might quote it (a backend's error) is masked like a secret's value.
      (await import('../../../support/masking.js')).processMasker.add([value]);
      const { selectManager } = await import('../../select.js');
      const m = await selectManager(ctx, choice(opts));
      const found = await ctx.keystack().provenance.usedByValue(value, { manager: m.uuid });
      const where = `secrets manager '${found.manager.name}'`;
      const lines = [
        found.current.length === 0
          ? `No secret of ${where} holds this value now.`
          : `Secrets of ${where} that hold this value now:\n${found.current.map((c) => `  ${c.secret}.${c.key}`).join('\n')}`,
      ];
      if (found.unreadable.length > 0)
        ctx.out.warn(
          `${found.unreadable.length} secret${found.unreadable.length === 1 ? '' : 's'} could not be read to compare: ${found.unreadable.map((u) => `${u.secret} (${u.errorCode})`).join(', ')}`,
        );
      lines.push(
        found.reads.length === 0
          ? 'No recorded run read this value.'
          : `Runs that read it (newest first):\n${table(
              ['RUN', 'PIPELINE', 'STEP', 'KEY', 'AT', ...['SECRET', 'KEYS', 'VERSION', 'OUTCOME', 'WORKER']],
              found.reads.map((r) => [
                r.runId.slice(0, 8),
                r.pipeline,
                r.step ?? r.component ?? '',
                r.key,
                r.at,
                ...(accessRows([r])[0] ?? []),
              ]),
            )}`,
      );
      return { data: found, text: lines.join('\n\n') };
    }
    if (name === undefined)
      throw new UsageError(
        'name the secret, or give the leaked value with --value @-',
        'E.g. `keystack secret used-by db`, or `keystack secret used-by --value @-` with the value on standard input.',
      );
    let manager: string | undefined;
    let version = opts.version;
    const label = version === 'previous' || version === 'current';
    if (opts.manager !== undefined || opts.stack !== undefined || label) {
      const { selectManager } = await import('../../select.js');
      const m = await selectManager(ctx, choice(opts));
      manager = m.uuid;
      // Records carry version ids; a label names a different id after every rotation.
      if (label) version = (await m.getVersion(name, version ?? 'current')).version;
    }
    const accesses = await ctx.keystack().provenance.usedBy({
      secret: name,
      key: opts.key,
      version,
      since: opts.since,
      manager,
    });
    const rows = accesses.map((a) => [
      a.runId.slice(0, 8),
      a.pipeline,
      a.step ?? a.component ?? '',
      a.at,
      ...(accessRows([a])[0] ?? []),
    ]);
    return {
      data: { secret: name, accesses },
      text:
        rows.length === 0
          ? `No recorded run accessed '${name}'${opts.since === undefined ? '' : ` since ${opts.since}`}.`
          : table(['RUN', 'PIPELINE', 'STEP', 'AT', 'SECRET', 'KEYS', 'VERSION', 'OUTCOME', 'WORKER'], rows),
    };
  },
});

/** `@-` or `@FILE`; a value typed on the command line is refused without being repeated. */
async function readValue(ctx: import('../../context.js').CommandContext, source: string): Promise<string> {
  const { expandValue, isStdinValue, stdinValue } = await import('../../input.js');
  if (isStdinValue(source)) return stdinValue('value', ctx.readStdin());
  if (source.startsWith('@') && !source.startsWith('@@') && source.length > 1 && !source.startsWith('@generate'))
    return expandValue('value', source);
  throw new UsageError(
    '--value takes @- (standard input) or @FILE, never the value itself',
    'A value on the command line lands in the shell history and the process list. Pipe it in: `keystack secret used-by --value @-`.',
  );
}
