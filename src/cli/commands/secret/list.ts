import { UsageError } from '../../../errors.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { selectManager } from '../../select.js';
import { views } from '../../shapes.js';
import { choice, managerOptions } from './manager-options.js';

/** How `secret list` prints. `names` and `table` differ on stderr only: `names` never adds a note. */
const LIST_FORMATS = ['names', 'table', 'json', 'yaml'] as const;
type ListFormat = (typeof LIST_FORMATS)[number];

interface ListFlags {
  manager?: string;
  stack?: string;
  prefix?: string;
  format?: string;
}

export default defineCommand({
  path: 'secret list',
  description: "list the secrets of the manager's scope, optionally filtered by a prefix or a glob",
  summary: "list the secrets of the manager's scope",
  arguments: [
    {
      spec: '[pattern]',
      description: 'only names matching this glob: * is any run of characters, ? is one character (quote it)',
    },
  ],
  options: [
    { flags: '--prefix <prefix>', description: 'only names that start with this text (taken literally)' },
    {
      flags: '--format <format>',
      description: 'names (one per line, for scripts) | table | json | yaml (default: table; --json means json)',
    },
    ...managerOptions,
  ],
  help: [
    'The pattern and --prefix filter before anything is printed, and may be combined; a filter that',
    'matches nothing prints an empty list and exits 0. In the pattern only * and ? are special, so',
    "quote it in the shell ('db_*'). --format json prints the same document as --json, and yaml the",
    'same object as YAML.',
  ].join('\n'),
  examples: [
    'keystack secret list',
    "keystack secret list 'db_*'",
    'keystack secret list --prefix ci_ --format names',
    'keystack secret list --format yaml --manager team',
  ],
  shape: (z) => views(z).secretShapes.list,
  run: async (ctx, { args, opts }: CommandInput<ListFlags>) => {
    const format = listFormat(opts.format, ctx.out.json);
    const pattern = args['pattern'];
    const manager = await selectManager(ctx, choice(opts));
    const matches = pattern === undefined ? undefined : globMatcher(pattern);
    const names = (await manager.list()).filter(
      (n) => (opts.prefix === undefined || n.startsWith(opts.prefix)) && (matches === undefined || matches(n)),
    );
    const data = { manager: manager.name, scope: manager.scope.scope, secrets: names };
    switch (format) {
      case 'json':
        // Under --json the output module prints `data`; this is that same document.
        return { data, text: JSON.stringify(data, null, 2) };
      case 'yaml': {
        const YAML = await import('yaml');
        return { data, text: YAML.stringify(data) };
      }
      case 'names':
        return { data, text: names.join('\n') };
      case 'table':
        if (names.length === 0) ctx.out.note(`No secrets${filterText(pattern, opts.prefix)} in ${manager.where}.`);
        return { data, text: names.join('\n') };
    }
  },
});

function listFormat(given: string | undefined, json: boolean): ListFormat {
  if (given === undefined) return json ? 'json' : 'table';
  if (!(LIST_FORMATS as readonly string[]).includes(given))
    throw new UsageError(`unknown --format '${given}'`, `Use one of: ${LIST_FORMATS.join(', ')}.`);
  if (json && given !== 'json')
    throw new UsageError(
      `--json and --format ${given} ask for two formats`,
      `--json means --format json; drop one of them.`,
    );
  return given as ListFormat;
}

/** A whole-name matcher for a glob where only `*` (any run, also none) and `?` (one character) are special. */
function globMatcher(glob: string): (name: string) => boolean {
  const source = glob.replace(/[\\^$.|+()[\]{}*?]/g, (c) => (c === '*' ? '.*' : c === '?' ? '.' : `\\${c}`));
  const re = new RegExp(`^${source}$`, 'su');
  return (name) => re.test(name);
}

function filterText(pattern: string | undefined, prefix: string | undefined): string {
  const parts = [];
  if (pattern !== undefined) parts.push(`matching '${pattern}'`);
  if (prefix !== undefined) parts.push(`starting with '${prefix}'`);
  return parts.length ? ` ${parts.join(' and ')}` : '';
}
