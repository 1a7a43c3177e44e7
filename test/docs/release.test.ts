/**
 * `npm run release` (scripts/release.mjs), run on a copy of this repository's package.json and
 * CHANGELOG.md in a throwaway git repository: the version goes up, the [Unreleased] entries move
 * under it with today's date, and the tag and publish commands are printed, not run. A dirty tree
 * and an empty [Unreleased] section are refused without changing anything.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SCRIPT = resolve('scripts/release.mjs');

function git(dir: string, ...args: string[]): void {
  const r = spawnSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', ...args], {
    cwd: dir,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
}

/** A clean git repository holding copies of the two files the release edits. */
function repoCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'keystack-release-'));
  copyFileSync('package.json', join(dir, 'package.json'));
  copyFileSync('CHANGELOG.md', join(dir, 'CHANGELOG.md'));
  git(dir, 'init', '-q');
  git(dir, 'add', '.');
  git(dir, 'commit', '-qm', 'start');
  return dir;
}

function release(dir: string, bump: string) {
  return spawnSync(process.execPath, [SCRIPT, bump], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
}

const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8');
const version = (dir: string) => (JSON.parse(read(dir, 'package.json')) as { version: string }).version;

/** The text of a `## [X]` section, up to the next one. */
function section(changelog: string, heading: string): string {
  const start = changelog.indexOf(heading);
  if (start === -1) return '';
  const rest = changelog.slice(start + heading.length);
  const end = rest.search(/^## \[/m);
  return (end === -1 ? rest : rest.slice(0, end)).trim();
}

describe('npm run release', () => {
  it('bumps the version and moves the [Unreleased] entries under it, dated today', () => {
    const dir = repoCopy();
    const before = read(dir, 'CHANGELOG.md');
    const unreleased = section(before, '## [Unreleased]\n');
    expect(unreleased, 'CHANGELOG.md has entries under [Unreleased]').not.toBe('');
    const [major, minor] = version(dir).split('.').map(Number);
    const next = `${major}.${(minor ?? 0) + 1}.0`;
    const days = [new Date().toISOString().slice(0, 10)];

    const r = release(dir, 'minor');
    days.push(new Date().toISOString().slice(0, 10));
    expect(r.status, r.stderr).toBe(0);

    expect(version(dir)).toBe(next);
    const after = read(dir, 'CHANGELOG.md');
    const dated = /^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$/m.exec(after);
    expect(dated?.[1]).toBe(next);
    expect(days).toContain(dated?.[2]);
    expect(section(after, '## [Unreleased]\n'), '[Unreleased] is left empty').toBe('');
    expect(section(after, dated?.[0] ?? '?')).toBe(unreleased);
    // Everything before [Unreleased] and every older version stays as it was.
    const olderStart = before.search(/^## \[\d/m);
    expect(after.endsWith(before.slice(olderStart))).toBe(true);
    expect(after.slice(0, after.indexOf('## [Unreleased]'))).toBe(before.slice(0, before.indexOf('## [Unreleased]')));

    expect(r.stdout).toContain(`git tag -a v${next}`);
    expect(r.stdout).toContain('npm publish');
    // Printed, not run: no tag and no commit were made.
    const tags = spawnSync('git', ['tag'], { cwd: dir, encoding: 'utf8' });
    expect(tags.stdout.trim()).toBe('');

    // Committed, the same changelog has nothing left to release.
    git(dir, 'commit', '-qam', `release ${next}`);
    const again = release(dir, 'patch');
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('nothing under "## [Unreleased]"');
    expect(version(dir)).toBe(next);
  });

  it('refuses a dirty tree and changes nothing', () => {
    const dir = repoCopy();
    const pkg = read(dir, 'package.json');
    const changelog = read(dir, 'CHANGELOG.md');
    writeFileSync(join(dir, 'notes.txt'), 'uncommitted\n');
    const r = release(dir, 'patch');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('uncommitted changes');
    expect(r.stderr).toContain('notes.txt');
    expect(read(dir, 'package.json')).toBe(pkg);
    expect(read(dir, 'CHANGELOG.md')).toBe(changelog);
  });

  it('refuses a bump it does not know', () => {
    const r = release(repoCopy(), 'huge');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('usage: npm run release -- patch|minor|major');
  });
});
