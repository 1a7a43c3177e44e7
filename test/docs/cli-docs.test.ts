/** docs/cli.md is generated from the command tree and the --json shapes; it must be current. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const gen = (...args: string[]) =>
  spawnSync(process.execPath, ['scripts/gen-cli-docs.mjs', ...args], { encoding: 'utf8', timeout: 60_000 });

describe('docs/cli.md', () => {
  it('is what `npm run docs:cli` generates from the built command tree', () => {
    const r = gen('--check');
    expect(r.status, r.stderr).toBe(0);
  });

  it('is, line for line, what the generator writes (a diff shows what is stale)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'keystack-docs-')), 'cli.md');
    const r = gen('--out', file);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync('docs/cli.md', 'utf8')).toBe(readFileSync(file, 'utf8'));
  });

  it('--check fails, with the command that fixes it, when the file is stale', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'keystack-docs-')), 'cli.md');
    expect(gen('--out', file).status).toBe(0);
    expect(gen('--check', '--out', file).status).toBe(0);
    writeFileSync(file, readFileSync(file, 'utf8').replace('### keystack secret get', '### keystack secret fetch'));
    const stale = gen('--check', '--out', file);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain('npm run docs:cli');
  });
});
