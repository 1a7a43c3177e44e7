/**
 * `keystack pipeline run` in a user's own project, as `npm install keystack` leaves it: the built
 * checkout is packed (`npm pack`) and the tarball installed into a temporary folder, which holds
 * an ESM project, a CommonJS project with a `.mts` pipeline and one with a `.ts` pipeline (all
 * three resolve the one install from the folder above them), and a bare folder without keystack.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const TS_PIPELINE = `import { pipeline, step } from 'keystack';
const double = step({ name: 'double', run: async ({ n }: { n: number }) => ({ doubled: n * 2 }) });
export default pipeline('own_project', () => {
  double({ n: 21 });
});
`;
const JS_PIPELINE = TS_PIPELINE.replace(': { n: number }', '');

let root = '';
let cli = '';

/**
 * Installs the packed checkout into a team's root folder (scripts/install-packed.mjs, from npm's
 * cache, which scripts/test.sh fills before the loopback-only namespace), then copies in the
 * better-sqlite3 addon this checkout's install built for this Node: the install skips scripts.
 */
function installPacked(): void {
  root = mkdtempSync(join(tmpdir(), 'keystack-own-project-'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'team-root', version: '1.0.0', private: true }));
  const r = spawnSync(process.execPath, [resolve('scripts/install-packed.mjs'), root], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const addon = 'better-sqlite3/build/Release/better_sqlite3.node';
  mkdirSync(join(root, 'node_modules', addon, '..'), { recursive: true });
  copyFileSync(resolve('node_modules', addon), join(root, 'node_modules', addon));
  cli = join(root, 'node_modules/keystack/bin/keystack.cjs');
}

function project(name: string, type: 'module' | 'commonjs', files: Record<string, string>): string {
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', type }));
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

function run(dir: string, file: string, bin = cli): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [bin, 'pipeline', 'run', file], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '', HOME: dir, KEYSTACK_CONFIG_DIR: join(dir, '.keystack') },
    timeout: 60_000,
  });
}

const completed = (r: SpawnSyncReturns<string>) => {
  expect(r.stderr).not.toContain('Error');
  expect(r.stdout + r.stderr).toMatch(/✓ double: (completed|cached)/);
  expect(r.stdout).toContain("Pipeline 'own_project' completed");
  expect(r.status).toBe(0);
};

describe('pipeline run in a project that installed the packed keystack', () => {
  beforeAll(installPacked, 300_000);

  it('an ESM project ("type": "module") runs .ts, .js and .mjs pipelines on the local default store', () => {
    const dir = project('esm', 'module', { 'p.ts': TS_PIPELINE, 'p.js': JS_PIPELINE, 'p.mjs': JS_PIPELINE });
    for (const file of ['p.ts', 'p.js', 'p.mjs']) completed(run(dir, file));
  });

  it('a CommonJS project (npm init -y) runs a .mts pipeline', () => {
    completed(run(project('cjs-mts', 'commonjs', { 'p.mts': TS_PIPELINE }), 'p.mts'));
  });

  it('a CommonJS project runs a .ts pipeline: tsx compiles it to CommonJS, and require(keystack) finds the package', () => {
    completed(run(project('cjs-ts', 'commonjs', { 'p.ts': TS_PIPELINE }), 'p.ts'));
  });

  it('a .js pipeline with import statements in a CommonJS project: one line naming .mjs and "type": "module"', () => {
    const dir = project('cjs-js', 'commonjs', { 'p.js': JS_PIPELINE });
    const r = run(dir, 'p.js');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`Error: pipeline module ${join(dir, 'p.js')} uses ESM, but Node loads it as CommonJS`);
    expect(r.stderr).toContain(`Hint: Rename it to .mjs, or set "type": "module" in ${join(dir, 'package.json')}.`);
  });

  it('a TypeScript syntax error shows file:line:col and the message on the error line', () => {
    const dir = project('broken', 'module', {
      'p.ts': "import { pipeline } from 'keystack';\nexport default pipeline('x', () => { const a: number = ; });\n",
    });
    const r = run(dir, 'p.ts');
    expect(r.status).toBe(1);
    const line = r.stderr.split('\n').find((l) => l.startsWith('Error:')) ?? '';
    expect(line).toMatch(new RegExp(`does not compile: ${join(dir, 'p.ts')}:2:\\d+: Unexpected ";"$`));
    expect(r.stderr).not.toContain('Transform failed');
  });

  it('a bare folder without keystack installed: the hint says npm install keystack and where Node looked', () => {
    const bare = mkdtempSync(join(tmpdir(), 'keystack-bare-'));
    writeFileSync(join(bare, 'p.mjs'), JS_PIPELINE);
    const r = run(bare, 'p.mjs');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`pipeline module ${join(bare, 'p.mjs')} imports 'keystack', which is not installed`);
    expect(r.stderr).toContain(
      `Run \`npm install keystack\` in the module's project: Node looked in ${bare}/node_modules`,
    );
  });
});
