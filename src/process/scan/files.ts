/**
 * What `keystack scan` reads: the files under the paths it is given (walked without following
 * symlinks), or the files staged in git (their staged content, not the work tree's).
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, type Stats } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { UsageError } from '../../errors.js';
import { IgnoreRules } from './ignore.js';

/** Files larger than this are listed as skipped rather than read (the scan holds a file in memory). */
export const MAX_FILE_BYTES = 256 * 1024 * 1024;

export const IGNORE_FILE = '.keystackignore';

/** One file to scan: its path as reported, and how to read its bytes. */
export interface ScanSource {
  path: string;
  read(): Buffer;
}

export type SkipReason = 'symlink' | 'too_large' | 'not_a_file' | 'unreadable' | 'missing';

export interface Skipped {
  path: string;
  reason: SkipReason;
}

export interface SourceList {
  sources: ScanSource[];
  skipped: Skipped[];
}

export interface SourceOptions {
  cwd: string;
  /** `--exclude` globs (gitignore syntax, relative to each scanned root). */
  exclude?: readonly string[];
}

/**
 * The files under `paths` (default `.`). A directory is a scanned root: its `.keystackignore` and
 * the `--exclude` globs apply below it, and `.git` is never entered. A file named on the command
 * line is scanned unless `--exclude` matches it. Symlinks are neither followed nor read.
 */
export function walkSources(paths: readonly string[], opts: SourceOptions): SourceList {
  const out: SourceList = { sources: [], skipped: [] };
  for (const p of paths.length === 0 ? ['.'] : paths) {
    const abs = resolve(opts.cwd, p);
    const shown = (a: string) => display(opts.cwd, a);
    const st = stat(abs);
    if (!st) {
      out.skipped.push({ path: shown(abs), reason: 'missing' });
      continue;
    }
    if (st.isSymbolicLink()) {
      out.skipped.push({ path: shown(abs), reason: 'symlink' });
      continue;
    }
    if (st.isFile()) {
      const rules = new IgnoreRules().add((opts.exclude ?? []).join('\n'));
      if (!rules.ignores(p.split(sep).join('/').replace(/^\.\//, ''), false)) addFile(out, abs, st, shown(abs));
      continue;
    }
    if (!st.isDirectory()) {
      out.skipped.push({ path: shown(abs), reason: 'not_a_file' });
      continue;
    }
    const rules = new IgnoreRules().add(readIgnoreFile(abs)).add((opts.exclude ?? []).join('\n'));
    walk(abs, '', rules, out, shown);
  }
  return out;
}

/**
 * The files staged in the git repository around `cwd`, read from the index (`git show :PATH`),
 * with the repository's `.keystackignore` and the `--exclude` globs applied; restricted to
 * `paths` when any are given. Paths are reported as git names them (relative to the repository's
 * top level), as code-scanning UIs expect. Staged symlinks are skipped, not read.
 */
export function stagedSources(paths: readonly string[], opts: SourceOptions): SourceList {
  const top = git(opts.cwd, ['rev-parse', '--show-toplevel']).toString('utf8').trim();
  const rules = new IgnoreRules().add(readIgnoreFile(top)).add((opts.exclude ?? []).join('\n'));
  const within = paths.map((p) => relative(top, resolve(opts.cwd, p)).split(sep).join('/'));
  const out: SourceList = { sources: [], skipped: [] };
  for (const { name, mode } of stagedEntries(top)) {
    if (within.length > 0 && !within.some((w) => w === '' || name === w || name.startsWith(`${w}/`))) continue;
    if (name.split('/').includes('.git') || rules.ignores(name, false)) continue;
    const shown = name;
    if (mode === '120000') {
      out.skipped.push({ path: shown, reason: 'symlink' });
      continue;
    }
    if (mode === '160000') continue; // a submodule: its own repository
    out.sources.push({ path: shown, read: () => git(top, ['show', `:${name}`]) });
  }
  return out;
}

// --- Internal helpers ---

/** Added, copied, modified and renamed paths of the index, with their new modes (one `git diff --raw`). */
function stagedEntries(top: string): { name: string; mode: string }[] {
  const fields = git(top, ['diff', '--cached', '--raw', '-z', '--no-renames', '--diff-filter=ACMR'])
    .toString('utf8')
    .split('\0');
  const out: { name: string; mode: string }[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const mode = (fields[i] ?? '').split(' ')[1] ?? '';
    out.push({ name: fields[i + 1] ?? '', mode });
  }
  return out;
}

function walk(dir: string, rel: string, rules: IgnoreRules, out: SourceList, shown: (abs: string) => string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch {
    out.skipped.push({ path: shown(dir), reason: 'unreadable' });
    return;
  }
  for (const name of entries) {
    if (name === '.git') continue;
    const abs = join(dir, name);
    const r = rel === '' ? name : `${rel}/${name}`;
    const st = stat(abs);
    if (!st) continue;
    if (st.isSymbolicLink()) {
      if (!rules.ignores(r, false)) out.skipped.push({ path: shown(abs), reason: 'symlink' });
      continue;
    }
    if (st.isDirectory()) {
      if (!rules.ignores(r, true)) walk(abs, r, rules, out, shown);
      continue;
    }
    if (rules.ignores(r, false)) continue;
    if (st.isFile()) addFile(out, abs, st, shown(abs));
    else out.skipped.push({ path: shown(abs), reason: 'not_a_file' });
  }
}

function addFile(out: SourceList, abs: string, st: Stats, shown: string): void {
  if (st.size > MAX_FILE_BYTES) out.skipped.push({ path: shown, reason: 'too_large' });
  else out.sources.push({ path: shown, read: () => readFileSync(abs) });
}

function stat(abs: string): Stats | undefined {
  try {
    return lstatSync(abs);
  } catch {
    return undefined;
  }
}

function readIgnoreFile(root: string): string {
  try {
    return readFileSync(join(root, IGNORE_FILE), 'utf8');
  } catch {
    return '';
  }
}

/** A path as reported: relative to the working directory when below it, with `/` separators. */
function display(cwd: string, abs: string): string {
  const rel = relative(cwd, abs);
  const shown = rel === '' ? '.' : rel.startsWith('..') ? abs : rel;
  return shown.split(sep).join('/');
}

function git(cwd: string, args: string[]): Buffer {
  try {
    return execFileSync('git', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: MAX_FILE_BYTES * 2 });
  } catch (e) {
    const stderr =
      String((e as { stderr?: Buffer }).stderr ?? '')
        .trim()
        .split('\n')[0] ?? '';
    throw new UsageError(
      `--staged needs a git repository: git ${args[0]} failed${stderr ? ` (${stderr})` : ''}`,
      'Run `keystack scan --staged` inside a git work tree (e.g. from a pre-commit hook).',
    );
  }
}
