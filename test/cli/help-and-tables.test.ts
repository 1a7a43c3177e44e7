/**
 * Issue #12, "Help and output": every command's help (found by walking the command tree, so
 * commands added later are covered), the environment variables, one apostrophe style, tables
 * that fit the terminal, and a Hint on every error.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import stringWidth from 'string-width';
import { afterEach, describe, expect, it } from 'vitest';
import { describeError, setTableWidth, table } from '../../src/cli/output.js';
import { ERROR_CODES } from '../../src/cli/help.js';
import { tableCommands } from '../../src/cli/table.js';
import { KeystackError, type ErrorCode } from '../../src/errors.js';
import { BIN, cli, tempEnv, type CliEnv } from '../support/cli.js';

/** The subcommand names listed under "Commands:" of a help text. */
function subcommands(help: string): string[] {
  const block = /\nCommands:\n([\s\S]*?)(?:\n\n|$)/.exec(help)?.[1] ?? '';
  return block
    .split('\n')
    .map((l) => /^ {2}(\S+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined && n !== 'help');
}

/** The paths whose usage shows `--KEY=VALUE`: the table's `keyValues` commands. */
const KEY_VALUE_COMMANDS = (await tableCommands()).filter((d) => d.keyValues).map((d) => d.path);

function walk(e: CliEnv): Map<string, string> {
  const helps = new Map<string, string>();
  const visit = (path: string[]) => {
    const r = cli(e, [...path, '--help']);
    expect(r.status, `keystack ${path.join(' ')} --help: ${r.stderr}`).toBe(0);
    helps.set(path.join(' '), r.stdout);
    for (const sub of subcommands(r.stdout)) visit([...path, sub]);
  };
  visit([]);
  return helps;
}

describe('help', () => {
  const e = tempEnv();
  const helps = walk(e);

  it('finds the whole command tree', () => {
    expect(helps.size).toBeGreaterThan(50);
    for (const p of [
      'status',
      'completion',
      'secret describe',
      'secrets-manager secret describe',
      'secrets-manager flavor describe',
      'orchestrator flavor describe',
    ])
      expect([...helps.keys()]).toContain(p);
    expect([...helps.keys()].some((p) => p.includes('__'))).toBe(false);
  });

  it('every help has a usage line, examples, and the global options (--json)', () => {
    for (const [path, help] of helps) {
      const usage = help.split('\n', 1)[0] ?? '';
      expect(usage, path).toMatch(new RegExp(`^Usage: keystack${path ? ` ${path}` : ''}( |$)`));
      expect(help, `keystack ${path} --help has no examples`).toMatch(/\nExamples:\n {2}\$ \S/);
      expect(help, path).toMatch(/--json\s+machine-readable output/);
    }
  });

  it('every command that takes --KEY=VALUE shows it in its usage line', async () => {
    // The table's definitions that take `--KEY=VALUE` words; the ones users know must be among them.
    const keyValue = KEY_VALUE_COMMANDS;
    const components = ['orchestrator', 'artifact-store', 'container-registry', 'step-operator'];
    expect([...keyValue].sort()).toEqual(
      [
        'secret register',
        'secret rotate',
        'secret set',
        'secret update',
        'secrets-manager register',
        'secrets-manager update',
        ...components.flatMap((c) => [`${c} register`, `${c} update`]),
      ].sort(),
    );
    const leaves = [...helps.keys()].filter((p) => keyValue.includes(p.replace(/^secrets-manager secret /, 'secret ')));
    expect(leaves.length).toBe(keyValue.length + 4); // secret register/rotate/set/update also under secrets-manager secret
    for (const p of leaves) expect(helps.get(p)?.split('\n', 1)[0], p).toMatch(/--KEY=/);
    // And no other command's usage pretends to take them.
    for (const [p, help] of helps) if (!leaves.includes(p)) expect(help.split('\n', 1)[0], p).not.toMatch(/--KEY=/);
  });

  it("`keystack help secret get` shows that one command's help", () => {
    expect(cli(e, ['help', 'secret', 'get']).stdout).toBe(helps.get('secret get'));
    expect(cli(e, ['help', 'secrets-manager', 'flavor', 'describe']).stdout).toBe(
      helps.get('secrets-manager flavor describe'),
    );
    expect(cli(e, ['help', 'stack']).stdout).toBe(helps.get('stack'));
    const root = cli(e, ['help']);
    expect(root.status).toBe(0);
    expect(root.stdout).toBe(helps.get(''));
  });

  it('a reader that takes only the start of a help text (`| head -1`) is not an error', () => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" --help | head -1`], {
      env: e.env,
      encoding: 'utf8',
    });
    expect(r.stdout).toBe('Usage: keystack [options] [command]\n');
    expect(r.stderr).toBe('');
  });

  it('uses one apostrophe style (ASCII) everywhere', () => {
    for (const [path, help] of helps) expect(help, path).not.toMatch(/[\u2018\u2019]/);
  });

  it('the Environment section lists every variable keystack reads', () => {
    const files: string[] = [];
    const collect = (dir: string) => {
      for (const f of readdirSync(dir)) {
        const p = join(dir, f);
        if (statSync(p).isDirectory()) collect(p);
        else if (p.endsWith('.ts')) files.push(p);
      }
    };
    collect('src');
    const read = new Set<string>();
    for (const f of files) {
      const src = readFileSync(f, 'utf8');
      for (const m of src.matchAll(/\b(KEYSTACK_[A-Z][A-Z_]*[A-Z])\b/g)) if (m[1]) read.add(m[1]);
      for (const m of src.matchAll(/env(?:\[|: )'([A-Z][A-Z0-9_]+)'/g)) if (m[1]) read.add(m[1]);
    }
    // Not read from the user: the parent-to-step channel flag, and a GitHub secret name prefix.
    for (const internal of ['KEYSTACK_STEP_CHANNEL', 'KEYSTACK__COMPONENT__']) read.delete(internal);
    expect(read.size).toBeGreaterThan(15);
    const env = /\nEnvironment:\n([\s\S]*?)\n\n/.exec(helps.get('') ?? '')?.[1] ?? '';
    for (const v of read)
      expect(env, `${v} is read but not in the Environment section`).toMatch(new RegExp(`\\b${v}\\b`));
  });
});

describe('tables', () => {
  afterEach(() => setTableWidth(undefined));

  it('fit COLUMNS, wrapping the widest column, and count wide characters as two columns', () => {
    const rows = [
      ['db', '数据库密码 and a long description that goes on and on past the edge of the terminal'],
      ['x', 'short'],
    ];
    setTableWidth(40);
    const t = table(['NAME', 'DESCRIPTION'], rows);
    for (const line of t.split('\n')) expect(stringWidth(line), line).toBeLessThanOrEqual(40);
    // Nothing is cut off: the wrapped pieces hold every word.
    const text = t
      .split('\n')
      .slice(2)
      .map((l) => l.slice(6).trim())
      .join(' ');
    expect(text.replace(/\s+/g, ' ')).toContain(
      '数据库密码 and a long description that goes on and on past the edge of the terminal',
    );
    setTableWidth(undefined);
    expect(table(['NAME', 'DESCRIPTION'], rows).split('\n')).toHaveLength(4);
  });

  it('keeps cells whole with fit: false (values that must stay copyable)', () => {
    setTableWidth(20);
    const t = table(['KEY', 'VALUE'], [['k', 'a'.repeat(50)]], { fit: false });
    expect(t.split('\n')[2]).toBe(`k    ${'a'.repeat(50)}`);
  });

  it('`schema list` and other tables fit an 80-column terminal', () => {
    const e = tempEnv();
    for (const args of [
      ['schema', 'list'],
      ['secrets-manager', 'flavor', 'list'],
      ['secrets-manager', 'flavor', 'describe', 'aws'],
      ['orchestrator', 'flavor', 'list'],
      ['stack', 'list'],
      ['status'],
    ]) {
      const r = cli(e, args, { env: { COLUMNS: '80' } });
      expect(r.status, r.stderr).toBe(0);
      for (const line of r.stdout.split('\n'))
        expect(stringWidth(line), `${args.join(' ')}: ${line}`).toBeLessThanOrEqual(80);
    }
    // Wide characters are measured as two columns in the built CLI too (string-width loads lazily there).
    expect(cli(e, ['secret', 'register', 'wide', '--密码=値', '--ab=x']).status).toBe(0);
    const rows = cli(e, ['secret', 'get', 'wide']).stdout.split('\n').slice(1, 5);
    const valueColumn = (l: string) => stringWidth(l.slice(0, l.search(/\S+$/)));
    expect(new Set(rows.map(valueColumn)).size, rows.join('\n')).toBe(1);
    // Piped without COLUMNS, lines stay whole for scripts.
    expect(
      Math.max(
        ...cli(e, ['schema', 'list'])
          .stdout.split('\n')
          .map((l) => stringWidth(l)),
      ),
    ).toBeGreaterThan(80);
  });
});

describe('every error has a hint', () => {
  it('a keystack error without a hint of its own gets one for its code', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      expect(describeError(new KeystackError(code, 'something went wrong')).hint, code).toMatch(/\S/);
    }
  });
});
