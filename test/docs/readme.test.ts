/**
 * Every code block of README.md runs as written, after the documented setup, in a fresh config
 * directory and a fresh HOME: shell blocks (bash, sh, shell) with `keystack` on the PATH as
 * `npm run setup` puts it there, and ts/js blocks as modules that import the built package, each
 * twice (a snippet must be safe to paste again).
 *
 * The conventions (also in README.md's "README conventions" comment):
 * - `<!-- readme-test: skip (REASON) -->` on the line before a block: not run; reported as
 *   skipped with REASON. For blocks that need cloud credentials, Redis, a long-running worker,
 *   or are illustrative.
 * - a ```console or ```text block is never run (output, or a session transcript).
 * - a shell line whose comment starts with `# fails` must exit non-zero (the block goes on).
 * - shell blocks get `readme-test-value-0123` on standard input (for `--KEY=@-`), run from the
 *   repository root with `set -euo pipefail`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

export interface ReadmeBlock {
  line: number;
  lang: string;
  code: string;
  skip?: string;
}

const SHELL = new Set(['bash', 'sh', 'shell']);
const MODULE = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs']);
const NEVER_RUN = new Set(['console', 'text', 'json', 'yaml', '']);

/** The fenced blocks of a markdown text, with the skip marker that precedes each, if any. */
export function readmeBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split('\n');
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i] ?? '');
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ''); i++) body.push(lines[i] ?? '');
    let prev = start - 1;
    while (prev >= 0 && (lines[prev] ?? '').trim() === '') prev--;
    const marker = /^<!--\s*readme-test:\s*skip\s*\((.+)\)\s*-->$/.exec((lines[prev] ?? '').trim());
    const block: ReadmeBlock = { line: start + 1, lang: (open[1] ?? '').toLowerCase(), code: body.join('\n') };
    if (marker?.[1]) block.skip = marker[1];
    blocks.push(block);
  }
  return blocks;
}

/** A shell block as the test runs it: `# fails` lines must fail, every other line must succeed. */
export function shellScript(code: string): string {
  const out = ['set -euo pipefail'];
  for (const line of code.split('\n')) {
    const m = /^(.*?)\s+#\s*fails\b.*$/.exec(line);
    if (m?.[1] && !line.trimStart().startsWith('#')) {
      out.push(
        `if ${m[1]} </dev/null; then echo "README: expected this to fail: ${m[1].replace(/["$`\\]/g, '\\$&')}" >&2; exit 1; fi`,
      );
    } else out.push(line);
  }
  return out.join('\n') + '\n';
}

const REPO = resolve('.');
const BASE_PATH = process.env['PATH'] ?? '/usr/bin:/bin';

/** `npm run setup` in a fresh HOME: the PATH a new user then has. */
function setUp(): { home: string; path: string } {
  const home = mkdtempSync(join(tmpdir(), 'keystack-readme-home-'));
  const r = spawnSync('bash', ['scripts/setup.sh'], {
    env: { PATH: BASE_PATH, HOME: home, KEYSTACK_SKIP_BUILD: '1' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`npm run setup failed: ${r.stdout}${r.stderr}`);
  return { home, path: `${home}/.local/bin:${BASE_PATH}` };
}

function runShell(code: string) {
  const { home, path } = setUp();
  const env = { PATH: path, HOME: home, KEYSTACK_CONFIG_DIR: join(home, '.config/keystack') };
  return spawnSync('bash', ['-c', shellScript(code)], {
    cwd: REPO,
    env,
    input: 'readme-test-value-0123',
    encoding: 'utf8',
    timeout: 240_000,
  });
}

/** A new app that installed keystack, with its own HOME and config dir. */
function newApp() {
  const app = mkdtempSync(join(tmpdir(), 'keystack-readme-app-'));
  mkdirSync(join(app, 'node_modules'));
  symlinkSync(REPO, join(app, 'node_modules/keystack'));
  return app;
}

/** A ts/js block as a module of `app`. */
function runIn(app: string, block: ReadmeBlock) {
  const ts = block.lang === 'ts' || block.lang === 'typescript';
  const file = join(app, ts ? 'snippet.mts' : 'snippet.mjs');
  writeFileSync(file, block.code + '\n');
  const env = { PATH: BASE_PATH, HOME: app, KEYSTACK_CONFIG_DIR: join(app, 'config') };
  const argv = ts ? [join(REPO, 'node_modules/tsx/dist/cli.mjs'), file] : [file];
  return spawnSync(process.execPath, argv, { cwd: app, env, encoding: 'utf8', timeout: 120_000 });
}

/** A ts/js block as a module of a new app that installed keystack: run twice, same config dir. */
function runModule(block: ReadmeBlock) {
  const app = newApp();
  return [1, 2].map(() => runIn(app, block));
}

const blocks = readmeBlocks(readFileSync('README.md', 'utf8'));

describe('README.md code blocks', () => {
  it('has blocks, and every block is runnable or explicitly marked', () => {
    expect(blocks.length).toBeGreaterThan(5);
    const unknown = blocks.filter(
      (b) => !b.skip && !SHELL.has(b.lang) && !MODULE.has(b.lang) && !NEVER_RUN.has(b.lang),
    );
    expect(
      unknown.map((b) => `line ${b.line}: \`\`\`${b.lang}`),
      'blocks in a language this test cannot run: mark them',
    ).toEqual([]);
  });

  for (const b of blocks) {
    if (NEVER_RUN.has(b.lang)) continue;
    const name = `README.md:${b.line} (${b.lang})`;
    if (b.skip !== undefined) {
      const reason = b.skip;
      it(name, (ctx) => ctx.skip(`marked readme-test: skip (${reason})`));
    } else if (SHELL.has(b.lang)) {
      it(name, () => {
        const r = runShell(b.code);
        expect(r.status, `README.md:${b.line} failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
      }, 300_000);
    } else {
      it(`${name}, run twice`, () => {
        for (const [i, r] of runModule(b).entries()) {
          expect(r.status, `README.md:${b.line}, run ${i + 1}, failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
        }
      }, 300_000);
    }
  }
});

describe('README.md library snippets together', () => {
  it('run one after another in one config dir, and then each again', () => {
    // A reader pastes them in order into one app, and later runs an earlier one again: each works
    // on managers and secrets of its own, so none trips over what another left behind.
    const modules = blocks.filter((b) => MODULE.has(b.lang) && b.skip === undefined);
    expect(modules.length).toBeGreaterThan(2);
    const app = newApp();
    for (const round of [1, 2]) {
      for (const b of modules) {
        const r = runIn(app, b);
        expect(r.status, `README.md:${b.line}, round ${round}, failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
      }
    }
  }, 600_000);
});

describe('the README test itself', () => {
  it('finds skip markers, and turns `# fails` lines into checks that they fail', () => {
    const md = [
      '<!-- readme-test: skip (needs AWS) -->',
      '```bash',
      'keystack x',
      '```',
      '',
      '```console',
      '$ y',
      '```',
    ].join('\n');
    expect(readmeBlocks(md)).toEqual([
      { line: 2, lang: 'bash', code: 'keystack x', skip: 'needs AWS' },
      { line: 6, lang: 'console', code: '$ y' },
    ]);
    const script = shellScript('false   # fails: it does');
    expect(spawnSync('bash', ['-c', script]).status).toBe(0);
    expect(spawnSync('bash', ['-c', shellScript('true   # fails: it does not')]).status).toBe(1);
    expect(spawnSync('bash', ['-c', shellScript('false\ntrue')]).status).toBe(1);
  });
});
