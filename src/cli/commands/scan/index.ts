/** `keystack scan`: files that hold the value of a secret keystack manages, in any form the leak guard knows. */
import { UsageError } from '../../../errors.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { CHOOSER_OPTIONS } from '../../select.js';

const FORMATS = ['text', 'json', 'sarif'] as const;
const ENCODINGS = ['raw', 'line', 'json', 'base64', 'base64url', 'url', 'hex'] as const;
const SKIP_REASONS = ['symlink', 'too_large', 'not_a_file', 'unreadable', 'missing'] as const;

export interface ScanOptions {
  manager?: string;
  stack?: string;
  allManagers?: boolean;
  staged?: boolean;
  exclude?: string[];
  minLength: string;
  format?: string;
}

export default defineCommand({
  path: 'scan',
  description:
    'find the values of your secrets (raw, per line, JSON-escaped, base64, base64url, URL-encoded, hex) in files, notebooks, logs and MLflow/W&B run dirs',
  summary: 'find secret values in files (exit 1 when found)',
  arguments: [{ spec: '[paths...]', description: 'files and directories to scan (default: .)' }],
  options: [
    ...CHOOSER_OPTIONS,
    { flags: '--all-managers', description: 'the secrets of every registered secrets manager' },
    { flags: '--staged', description: 'the files staged in git, as staged (for a pre-commit hook)' },
    {
      flags: '--exclude <glob>',
      description: 'skip paths matching this gitignore-style glob (repeatable)',
      repeatable: 'optional',
    },
    {
      flags: '--min-length <n>',
      description: 'look only for values (and lines of values) of at least this many characters',
      default: '8',
    },
    { flags: '--format <format>', description: 'text | json | sarif (--json means json)' },
  ],
  help: [
    '',
    'Reads every secret of the chosen manager(s) with your own credentials, into memory only, and',
    'looks for each value of at least --min-length characters in every form listed above. Reports',
    'path:line:column, the manager, secret, key and form, never the value. Exit 1 when anything is',
    'found, 0 when clean, 2 for a usage error.',
    '',
    'Directories are walked without following symlinks (a symlink is neither followed nor read) and',
    "without entering .git; the root's .keystackignore (gitignore syntax) and --exclude skip paths.",
    'Notebooks are read cell by cell (hits name the cell); binary files are scanned as bytes; files',
    'over 256 MiB are skipped and listed. A value split across two lines is not found. See',
    'docs/leak-guard.md.',
  ].join('\n'),
  examples: [
    'keystack scan',
    'keystack scan mlruns wandb logs --all-managers',
    'keystack scan -m team --exclude "*.lock" --exclude "data/**" .',
    'keystack scan --staged                      # in .git/hooks/pre-commit',
    'keystack scan --format sarif > keystack.sarif   # a CI step, for code scanning',
  ],
  shape: (z) =>
    z.strictObject({
      findings: z.array(
        z.strictObject({
          path: z.string(),
          line: z.number().int().positive(),
          column: z.number().int().positive(),
          manager: z.string(),
          secret: z.string(),
          key: z.string(),
          encoding: z.enum(ENCODINGS),
          cell: z.number().int().nonnegative().optional(),
          where: z.string().optional(),
          binary: z.boolean().optional(),
        }),
      ),
      files: z.number().int().nonnegative(),
      bytes: z.number().int().nonnegative(),
      patterns: z.number().int().nonnegative(),
      values: z.number().int().nonnegative(),
      belowMinimum: z.number().int().nonnegative(),
      managers: z.array(z.string()),
      skipped: z.array(z.strictObject({ path: z.string(), reason: z.enum(SKIP_REASONS) })),
    }),
  run: async (ctx, { opts, words }: CommandInput<ScanOptions>) => {
    const format = opts.format ?? (ctx.out.json ? 'json' : 'text');
    if (!(FORMATS as readonly string[]).includes(format))
      throw new UsageError(
        `--format must be text, json or sarif, not '${format}'`,
        'e.g. `keystack scan --format sarif`.',
      );
    if (ctx.out.json && format !== 'json')
      throw new UsageError(`--json and --format ${format} disagree`, 'Give one of them.');
    const minLength = Number(opts.minLength);
    if (!Number.isInteger(minLength) || minLength < 4)
      throw new UsageError(
        `--min-length must be an integer of at least 4, not '${opts.minLength}'`,
        'Shorter values match ordinary text everywhere; the default is 8.',
      );
    if (opts.allManagers && (opts.manager !== undefined || opts.stack !== undefined))
      throw new UsageError('--all-managers cannot be used with --manager or --stack', 'Give one of them.');

    const scan = await import('../../../process/scan/index.js');
    const listed = opts.staged
      ? scan.stagedSources(words, { cwd: ctx.cwd, exclude: opts.exclude ?? [] })
      : scan.walkSources(words, { cwd: ctx.cwd, exclude: opts.exclude ?? [] });
    const ks = ctx.keystack();
    const managers = opts.allManagers
      ? await Promise.all(ks.store.listComponents('secrets_manager').map((r) => ks.managerFor(r)))
      : [await (await import('../../select.js')).selectManager(ctx, opts)];
    const values = await scan.readScanValues(managers);
    // Anything printed goes through the masker; should a value ever reach a message, it is masked.
    ctx.out.sensitive(values.map((v) => v.value));
    const patterns = scan.scanPatterns(values, minLength);
    const found = scan.scanSources(listed.sources, patterns.matcher);
    const data = {
      findings: found.findings,
      files: found.files,
      bytes: found.bytes,
      patterns: patterns.matcher.size,
      values: patterns.values,
      belowMinimum: patterns.belowMinimum,
      managers: managers.map((m) => m.name),
      skipped: listed.skipped,
    };
    const status = data.findings.length > 0 ? 1 : 0;
    if (format === 'sarif') {
      const { VERSION } = await import('../../version.js');
      return { data, text: JSON.stringify(scan.sarifReport(data, VERSION), null, 2), status };
    }
    if (format === 'json') return { data, text: JSON.stringify(data, null, 2), status };
    return { data, text: scan.textReport(data), status };
  },
});
