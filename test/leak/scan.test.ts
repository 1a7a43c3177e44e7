/**
 * `keystack scan`'s engine, in-process: every form of a value in every kind of file it reads,
 * where it reports them, what it does not find, and what it does not read (ignored paths,
 * symlinks, the work tree under --staged). test/cli/scan.test.ts runs the command itself.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  IgnoreRules,
  scanFile,
  scanPatterns,
  scanSources,
  stagedSources,
  walkSources,
  type Finding,
} from '../../src/process/scan/index.js';
import { leakForms, type LeakEncoding } from '../../src/support/leak-match.js';

// Multi-line, with characters each encoding writes differently (quote, backslash, `/`, `+`, non-ASCII).
const VALUE = 'Kx9"q\\Wz/é?>~Lm+Pt3\nsecond-line-Rv7>>?~Hs';
const ENCODINGS: LeakEncoding[] = ['raw', 'line', 'json', 'base64', 'base64url', 'url', 'hex'];
const { matcher } = scanPatterns([{ manager: 'team', secret: 'api', key: 'token', value: VALUE }]);

function formOf(encoding: LeakEncoding): string {
  const f = leakForms(VALUE).find((x) => x.encoding === encoding);
  if (!f) throw new Error(`no ${encoding} form`);
  return f.form;
}

/** Each file type as it would hold a leaked text. */
const FILE_TYPES: Record<string, (form: string) => string> = {
  'notes.txt': (f) => `some notes\nthe key was ${f} yesterday\n`,
  'train.log': (f) => `2026-12-07 INFO start\n2026-12-07 DEBUG token=${f}\n`,
  '.env': (f) => `USER=admin\nAPI_TOKEN=${f}\n`,
  'config.yaml': (f) => `model: bert\napi:\n  token: ${f}\n`,
  'config.json': (f) => `{\n  "model": "bert",\n  "token": "${f}"\n}\n`,
  'pyproject.toml': (f) => `[tool.train]\ntoken = '${f}'\n`,
  'mlruns/4/0a1b2c/params/api_token': (f) => f,
  'wandb/run-20261207_101500-x7k2m9/files/config.yaml': (f) => `api_token:\n  value: ${f}\n`,
};

const NOTEBOOK = 'analysis.ipynb';
function notebook(form: string): string {
  return JSON.stringify({
    cells: [
      { cell_type: 'markdown', source: ['# Training\n'] },
      {
        cell_type: 'code',
        source: ['import os\n', 'print(os.environ["API_TOKEN"])\n'],
        outputs: [{ output_type: 'stream', name: 'stdout', text: ['loading\n', `token ${form}\n`] }],
      },
    ],
    metadata: {},
    nbformat: 4,
    nbformat_minor: 5,
  });
}

function findings(path: string, content: string | Buffer): Finding[] {
  return scanFile(path, Buffer.isBuffer(content) ? content : Buffer.from(content), matcher);
}

describe('scan: every encoding in every file type', () => {
  it('the value has a distinct form in every encoding (the test below would prove less otherwise)', () => {
    expect(new Set(leakForms(VALUE).map((f) => f.encoding))).toEqual(new Set(ENCODINGS));
  });

  for (const [path, write] of Object.entries(FILE_TYPES)) {
    it(`finds each encoding in ${path}, naming secret, key, manager and place`, () => {
      for (const encoding of ENCODINGS) {
        const form = formOf(encoding);
        const content = write(form);
        const hits = findings(path, content);
        expect(
          hits.map((h) => h.encoding),
          `${encoding} in ${path}`,
        ).toContain(encoding);
        const hit = hits.find((h) => h.encoding === encoding);
        // The line and column of where the form starts in the file.
        const before = content.slice(0, content.indexOf(form));
        expect(hit).toMatchObject({
          path,
          manager: 'team',
          secret: 'api',
          key: 'token',
          line: before.split('\n').length,
          column: (before.split('\n').at(-1) ?? '').length + 1,
        });
      }
    });
  }

  it('names MLflow params and W&B run files', () => {
    expect(findings('mlruns/4/0a1b2c/params/api_token', formOf('raw'))[0]?.where).toBe(
      "MLflow param 'api_token' of run 0a1b2c",
    );
    expect(findings('mlruns/4/0a1b2c/tags/mlflow.note', formOf('hex'))[0]?.where).toBe(
      "MLflow tag 'mlflow.note' of run 0a1b2c",
    );
    expect(findings('exp/wandb/run-20261207_101500-x7k2m9/files/output.log', formOf('url'))[0]?.where).toBe(
      'W&B run x7k2m9 file files/output.log',
    );
  });

  it('finds each encoding in a notebook output cell, by cell index and line within the output', () => {
    for (const encoding of ENCODINGS) {
      const hits = findings(NOTEBOOK, notebook(formOf(encoding)));
      const hit = hits.find((h) => h.encoding === encoding);
      expect(hit, encoding).toMatchObject({ path: NOTEBOOK, cell: 1, where: 'cell 1 output 0', line: 2, column: 7 });
    }
  });

  it('finds a value in a notebook cell source, and in a notebook that is not valid JSON', () => {
    const nb = JSON.stringify({ cells: [{ cell_type: 'code', source: ['x = 1\n', `key = '${VALUE}'\n`] }] });
    expect(findings(NOTEBOOK, nb)[0]).toMatchObject({ cell: 0, where: 'cell 0 source', line: 2, column: 8 });
    expect(findings(NOTEBOOK, `{"cells": [ broken ${formOf('base64')}`)[0]?.encoding).toBe('base64');
  });

  it('scans a binary file as bytes, for the raw and base64 forms among others', () => {
    for (const encoding of ['raw', 'base64'] as const) {
      const bin = Buffer.concat([Buffer.from([0, 1, 2, 255, 0]), Buffer.from(formOf(encoding)), Buffer.from([0, 9])]);
      expect(findings('model.bin', bin).find((h) => h.encoding === encoding)).toMatchObject({ binary: true });
    }
  });

  it('reports one finding per place: forms inside a longer form of the same key are not repeated', () => {
    // The raw value contains each of its lines; the padded base64 contains the unpadded one.
    expect(findings('a.txt', VALUE).map((h) => h.encoding)).toEqual(['raw']);
    expect(findings('a.txt', formOf('base64')).map((h) => h.encoding)).toEqual(['base64']);
  });
});

describe('scan: what it does not find', () => {
  it('a value split across two lines is not found (each part alone is no form of it)', () => {
    const one = 'Tq8vWs3nLx-Yp2Rk7Zm';
    const m = scanPatterns([{ manager: 'm', secret: 's', key: 'k', value: one }]).matcher;
    expect(scanFile('a.txt', Buffer.from(`key = ${one}\n`), m)).toHaveLength(1);
    expect(scanFile('a.txt', Buffer.from(`key = ${one.slice(0, 9)}\n${one.slice(9)}\n`), m)).toHaveLength(0);
    expect(scanFile('a.txt', Buffer.from(`key = ${one.slice(0, 9)}\\\n  ${one.slice(9)}\n`), m)).toHaveLength(0);
  });

  it('values under the minimum length are counted, not looked for', () => {
    const p = scanPatterns(
      [
        { manager: 'm', secret: 's', key: 'short', value: 'admin' },
        { manager: 'm', secret: 's', key: 'long', value: 'long-enough-value' },
      ],
      8,
    );
    expect(p).toMatchObject({ values: 1, belowMinimum: 1 });
    expect(scanFile('a.txt', Buffer.from('user admin'), p.matcher)).toEqual([]);
    const lower = scanPatterns([{ manager: 'm', secret: 's', key: 'short', value: 'admin' }], 5);
    expect(scanFile('a.txt', Buffer.from('user admin'), lower.matcher)).toHaveLength(1);
  });
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'keystack-scan-'));
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), c);
  }
  return root;
}

describe('scan: what it reads', () => {
  it('.keystackignore (gitignore syntax) and --exclude skip paths; .git is never entered', () => {
    const root = tree({
      '.keystackignore': '# fixtures\nfixtures/\n*.bak\n!keep.bak\n/top.txt\ndocs/**/gen-*.md\n',
      'fixtures/a.txt': VALUE,
      'src/fixtures/b.txt': VALUE,
      'old.bak': VALUE,
      'keep.bak': VALUE,
      'top.txt': VALUE,
      'sub/top.txt': VALUE,
      'docs/x/y/gen-1.md': VALUE,
      'docs/x/y/hand.md': VALUE,
      'data/big.csv': VALUE,
      'data/nested/c.csv': VALUE,
      '.git/config': VALUE,
      'lib/.git/HEAD': VALUE,
    });
    const paths = (exclude: string[] = []) =>
      walkSources([], { cwd: root, exclude })
        .sources.map((s) => s.path)
        .sort();
    expect(paths()).toEqual([
      '.keystackignore',
      'data/big.csv',
      'data/nested/c.csv',
      'docs/x/y/hand.md',
      'keep.bak',
      'sub/top.txt',
    ]);
    expect(paths(['data/**', '*.md'])).toEqual(['.keystackignore', 'keep.bak', 'sub/top.txt']);
    // A file named on the command line still obeys --exclude.
    expect(walkSources(['data/big.csv'], { cwd: root, exclude: ['*.csv'] }).sources).toEqual([]);
  });

  it('IgnoreRules: anchoring, directories only, character classes, negation order', () => {
    const r = new IgnoreRules().add('build/\n/out\nlog[0-9].txt\n*.tmp\n!important.tmp\n\\#hash');
    expect(r.ignores('build', true)).toBe(true);
    expect(r.ignores('build', false)).toBe(false);
    expect(r.ignores('a/build/x.js', false)).toBe(true);
    expect(r.ignores('out/x', false)).toBe(true);
    expect(r.ignores('a/out/x', false)).toBe(false);
    expect(r.ignores('log7.txt', false)).toBe(true);
    expect(r.ignores('logx.txt', false)).toBe(false);
    expect(r.ignores('a/b.tmp', false)).toBe(true);
    expect(r.ignores('a/important.tmp', false)).toBe(false);
    expect(r.ignores('#hash', false)).toBe(true);
  });

  it('follows no symlink: a linked file or directory is skipped and listed, never read', () => {
    const outside = tree({ 'leak.txt': VALUE, 'dir/leak.txt': VALUE });
    const root = tree({ 'clean.txt': 'nothing here' });
    symlinkSync(join(outside, 'leak.txt'), join(root, 'link.txt'));
    symlinkSync(join(outside, 'dir'), join(root, 'linkdir'));
    const listed = walkSources(['.'], { cwd: root });
    expect(listed.sources.map((s) => s.path)).toEqual(['clean.txt']);
    expect(listed.skipped).toEqual([
      { path: 'link.txt', reason: 'symlink' },
      { path: 'linkdir', reason: 'symlink' },
    ]);
    expect(scanSources(listed.sources, matcher).findings).toEqual([]);
    // Named on the command line, a symlink is not followed either.
    expect(walkSources(['link.txt'], { cwd: root })).toEqual({
      sources: [],
      skipped: [{ path: 'link.txt', reason: 'symlink' }],
    });
  });

  it('--staged reads what is staged in a real git repository, not the work tree', () => {
    const root = tree({ 'a.txt': `token ${VALUE}\n`, 'b.txt': 'clean\n', 'ignored/c.txt': VALUE });
    const git = (...args: string[]) => execFileSync('git', args, { cwd: root, stdio: 'pipe' });
    git('init', '-q');
    writeFileSync(join(root, '.keystackignore'), 'ignored/\n');
    symlinkSync(join(root, 'a.txt'), join(root, 'link.txt'));
    git('add', 'a.txt', 'b.txt', 'ignored/c.txt', 'link.txt', '.keystackignore');
    // The work tree no longer holds the value, the index still does; b.txt gains it unstaged.
    writeFileSync(join(root, 'a.txt'), 'clean now\n');
    writeFileSync(join(root, 'b.txt'), `now ${VALUE}\n`);
    const listed = stagedSources([], { cwd: root });
    expect(listed.sources.map((s) => s.path).sort()).toEqual(['.keystackignore', 'a.txt', 'b.txt']);
    expect(listed.skipped).toEqual([{ path: 'link.txt', reason: 'symlink' }]);
    const found = scanSources(listed.sources, matcher).findings;
    expect(found.map((f) => [f.path, f.line, f.column])).toEqual([['a.txt', 1, 7]]);
    // Only under the paths given.
    expect(stagedSources(['b.txt'], { cwd: root }).sources.map((s) => s.path)).toEqual(['b.txt']);
    // From a subdirectory too, paths are relative to the repository's top level.
    mkdirSync(join(root, 'sub'));
    expect(
      stagedSources([], { cwd: join(root, 'sub') })
        .sources.map((s) => s.path)
        .sort(),
    ).toEqual(['.keystackignore', 'a.txt', 'b.txt']);
  });

  it('--staged outside a git repository is a usage error naming what to do', () => {
    const root = tree({ 'a.txt': 'x' });
    expect(() => stagedSources([], { cwd: root, exclude: [] })).toThrow(/--staged needs a git repository/);
  });
});
