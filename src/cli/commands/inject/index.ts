/**
 * `keystack inject -i TEMPLATE [-o OUT] [-f]`: renders the `{{name.key}}` references of any text
 * file. Output goes to stdout, or to OUT written 0600 and atomically; an existing OUT is kept
 * unless -f. Every missing reference is reported at once, before anything is written.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ExistsError, InputError } from '../../../errors.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { CHOOSER_OPTIONS, selectManager, type ManagerChoice } from '../../select.js';
import { views } from '../../shapes.js';

export interface InjectFlags extends ManagerChoice {
  /** A path, or `-` for standard input. */
  in: string;
  out?: string;
  force?: boolean;
}

export default defineCommand({
  path: 'inject',
  description: 'render the {{name.key}} references in a text file, to stdout or to a 0600 file written atomically',
  options: [
    { flags: '-i, --in <template>', description: 'the template (- for standard input)', required: true },
    { flags: '-o, --out <file>', description: 'write here (mode 0600) instead of stdout' },
    { flags: '-f, --force', description: 'overwrite an existing output file' },
    ...CHOOSER_OPTIONS,
  ],
  help: 'A reference {{NAME@V.KEY}} reads version V of the secret (a number or id as `keystack secret history` lists it, previous or current).',
  examples: [
    'keystack inject -i config.tmpl -o config.yaml',
    'keystack inject -i config.tmpl -o config.yaml -f -m team',
  ],
  /** Without -o the rendered text (values included, by design); with -o the file written. */
  shape: (z) => {
    const { names } = views(z);
    return z.union([
      z.strictObject({ text: z.string(), references: names }),
      z.strictObject({ output: z.string(), references: names }),
    ]);
  },
  run: async (ctx, { opts: o }: CommandInput<InjectFlags>) => {
    const [{ inject, readTemplate }, { formatReference }, { writePrivateFileAtomic }] = await Promise.all([
      import('../../../process/env.js'),
      import('../../../secrets/reference.js'),
      import('../../../support/atomic-file.js'),
    ]);
    const out = o.out === undefined ? undefined : resolve(ctx.cwd, o.out);
    // Checked before anything is read from the backend; the write itself refuses a file that
    // appears meanwhile.
    if (out !== undefined && !o.force && existsSync(out)) throw exists(o.out ?? out);
    const template = o.in === '-' ? ctx.readStdin().toString('utf8') : readTemplate(resolve(ctx.cwd, o.in), o.in, '-i');
    const r = await inject(() => selectManager(ctx, { manager: o.manager, stack: o.stack }), template);
    const references = r.references.map(formatReference);
    if (out === undefined) return { data: { text: r.text, references }, raw: r.text, reveals: true };
    let written: boolean;
    try {
      written = writePrivateFileAtomic(out, r.text, { overwrite: o.force === true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      throw new InputError(
        `cannot write ${o.out ?? out} (${code}); nothing was written`,
        'Check that its directory exists and that you may write to it.',
      );
    }
    if (!written) throw exists(o.out ?? out);
    const secrets = new Set(r.references.map((x) => x.name)).size;
    return {
      data: { output: out, references },
      text: `Wrote ${o.out ?? out} (mode 0600): ${references.length} reference${references.length === 1 ? '' : 's'} from ${secrets} secret${secrets === 1 ? '' : 's'}.`,
    };
  },
});

function exists(path: string): ExistsError {
  return new ExistsError(
    `${path} already exists; it was not changed`,
    'Pass -f to overwrite it, or choose another -o path.',
  );
}
