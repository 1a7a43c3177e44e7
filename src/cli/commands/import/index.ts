/**
 * `keystack import FILE`: the secrets of an env, json or yaml file (or standard input) into a
 * secrets manager; every secret is checked, and the plan printed, before the first write.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { InputError, UsageError } from '../../../errors.js';
import type * as Formats from '../../../transfer/formats.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { listText } from '../../output.js';
import { CHOOSER_OPTIONS, selectManager, type ManagerChoice } from '../../select.js';
import { views } from '../../shapes.js';

/** A file to import larger than this is refused before it is parsed. */
const MAX_IMPORT_BYTES = 16 * 1024 * 1024;

export interface ImportFlags extends ManagerChoice {
  format?: string;
  as?: string;
  split?: boolean;
  schema?: string;
  onConflict?: string;
  dryRun?: boolean;
}

export default defineCommand({
  path: 'import',
  description:
    'write the secrets of an env, json or yaml file (- for stdin) into a secrets manager; all are checked before the first write',
  arguments: [{ spec: '<file>' }],
  options: [
    { flags: '--format <format>', description: 'env | json | yaml (default: from the file name)' },
    {
      flags: '--as <name>',
      description: 'the whole file is this one secret (env files: default from the file name, prod.env -> prod)',
    },
    { flags: '--split', description: 'json/yaml: each top-level entry is a secret (the default for json and yaml)' },
    {
      flags: '-s, --schema <schema>',
      description: 'schema for secrets the file gives none ($schema)',
      complete: 'schema',
    },
    {
      flags: '--on-conflict <policy>',
      description: 'when a secret exists with other content: fail (write nothing) | skip | update',
      default: 'fail',
    },
    { flags: '--dry-run', description: 'print the plan (names and keys only) and write nothing' },
    ...CHOOSER_OPTIONS,
  ],
  examples: ['keystack import prod.env --as prod --dry-run', 'keystack import team.yaml -m staging --on-conflict skip'],
  shape: (z) => {
    const { names, scope, planEntry } = views(z);
    return z.strictObject({
      manager: z.string(),
      scope,
      dryRun: z.boolean(),
      plan: z.array(planEntry),
      written: names,
    });
  },
  run: async (ctx, { args, opts: o }: CommandInput<ImportFlags>) => {
    const [formats, { importSecrets }, { planText, policy, tail }] = await Promise.all([
      import('../../../transfer/formats.js'),
      import('../../../transfer/transfer.js'),
      import('../transfer.js'),
    ]);
    const file = args['file'] ?? '';
    const stdin = file === '-';
    const format = importFormat(formats, o.format, stdin ? undefined : file);
    if (o.as !== undefined && o.split)
      throw new UsageError(
        '--as and --split cannot be used together',
        '--as NAME makes the whole file one secret; --split makes each top-level entry a secret.',
      );
    if (o.split && format === 'env')
      throw new UsageError(
        'an env file cannot be split: it has no secret names, only variables',
        'Import it as one secret with --as NAME.',
      );
    let as = o.as;
    if (format === 'env' && as === undefined) {
      as = stdin ? undefined : envSecretName(file);
      if (as === undefined)
        throw new UsageError(
          `cannot name the secret from ${stdin ? 'standard input' : `'${file}'`}`,
          'Pass --as NAME.',
        );
    }
    const onConflict = policy(o.onConflict);
    const text = utf8(stdin ? ctx.readStdin() : readInput(resolve(ctx.cwd, file)), stdin ? 'standard input' : file);
    const source = stdin ? 'standard input' : `'${file}'`;
    const manager = await selectManager(ctx, o);
    const report = await importSecrets(manager, {
      text,
      format,
      as,
      source,
      schema: o.schema,
      onConflict,
      dryRun: o.dryRun,
      onPlan: (plan) => ctx.out.note(planText(plan, `Import into ${manager.where}`)),
    });
    const data = {
      manager: manager.name,
      scope: manager.scope.scope,
      dryRun: report.dryRun,
      plan: report.plan,
      written: report.written,
    };
    if (report.dryRun)
      return { data, text: `${planText(report.plan, `Import into ${manager.where}`)}\nDry run: nothing was written.` };
    return {
      data,
      text: `Imported ${report.written.length} secret${report.written.length === 1 ? '' : 's'} into ${manager.where}${report.written.length ? `: ${listText(report.written)}` : ''}${tail(report.plan)}.`,
    };
  },
});

function importFormat(
  formats: typeof Formats,
  given: string | undefined,
  path: string | undefined,
): Formats.ImportFormat {
  const { IMPORT_FORMATS, formatOfPath } = formats;
  if (given !== undefined) {
    if (given === 'shell')
      throw new UsageError(
        'shell files cannot be imported (they are scripts)',
        'Export as env, json or yaml to import again.',
      );
    if (!(IMPORT_FORMATS as readonly string[]).includes(given))
      throw new UsageError(`unknown format '${given}'`, `Use one of: ${IMPORT_FORMATS.join(', ')}.`);
    return given as Formats.ImportFormat;
  }
  const fromPath = path === undefined ? null : formatOfPath(path);
  if (fromPath === null)
    throw new UsageError(
      `cannot tell the format of ${path === undefined ? 'standard input' : `'${path}'`}`,
      `Pass --format ${IMPORT_FORMATS.join('|')}.`,
    );
  return fromPath;
}

/** `prod.env` → `prod`, `.env.staging` → `staging`; `.env` itself names nothing. */
function envSecretName(path: string): string | undefined {
  const base = basename(path);
  const name = base.startsWith('.env.')
    ? base.slice('.env.'.length)
    : base.toLowerCase().endsWith('.env')
      ? base.slice(0, -'.env'.length)
      : base;
  return name === '' || name === '.env' ? undefined : name;
}

function readInput(file: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new InputError(
      `cannot read '${file}' (${code})`,
      code === 'ENOENT' ? 'Check the path.' : 'Check that the file is readable.',
    );
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      throw new InputError(`'${file}' is not a regular file`, 'Give a file, or - to read standard input.');
    if (st.size > MAX_IMPORT_BYTES)
      throw new InputError(
        `'${file}' is ${st.size} bytes; at most ${MAX_IMPORT_BYTES} can be imported at once`,
        'Split the file.',
      );
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

function utf8(bytes: Buffer, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    throw new InputError(`${what} is not UTF-8 text`, 'Convert it to UTF-8 first.');
  }
}
