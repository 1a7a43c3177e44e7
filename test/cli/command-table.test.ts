/**
 * The command table is the only way a command gets into the CLI (issue 19): every command of the
 * tree is built from a definition, each definition file under src/cli/commands holds its command's
 * help, examples and `--json` shape, and nothing outside table.ts wires commander commands.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { definitionOf } from '../../src/cli/define.js';
import { commandPath } from '../../src/cli/help.js';
import { commandTree } from '../../src/cli/main.js';
import { tableCommands } from '../../src/cli/table.js';

const SRC = join(import.meta.dirname, '../../src/cli');

function leaves(cmd: Command): Command[] {
  return cmd.commands.length === 0 ? [cmd] : cmd.commands.flatMap(leaves);
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? files(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}

describe('the command table', () => {
  it('builds every command of the tree from a definition with examples and a --json shape', async () => {
    const all = leaves(await commandTree());
    // 82 visible commands (`secrets-manager secret …` included) and two hidden ones today.
    expect(all.length).toBeGreaterThanOrEqual(84);
    const missing = all.filter((c) => definitionOf(c) === undefined).map(commandPath);
    expect(missing, 'commands wired outside the table').toEqual([]);
    for (const c of all) {
      const def = definitionOf(c);
      if (!def || def.hidden) continue;
      expect(def.examples?.length ?? 0, `${def.path} has no examples`).toBeGreaterThan(0);
    }
  });

  it('lists each visible command once, each with its own path', async () => {
    const defs = await tableCommands();
    const paths = defs.map((d) => d.path);
    expect(new Set(paths).size).toBe(paths.length);
    expect(paths).toContain('secret get');
    expect(paths).toContain('orchestrator flavor describe');
  });

  it('is the only place that makes commander commands', () => {
    const wiring = files(SRC)
      .filter((f) => !f.endsWith('table.ts') && !f.endsWith('main.ts'))
      .filter((f) => /\.command\(|new Command\(/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(SRC, f));
    expect(wiring).toEqual([]);
  });
});
