/**
 * The step child's own entry: built keystack starts step children with dist/step-child.cjs, which
 * loads neither the CLI (commander, the command tree) nor better-sqlite3, since a step child is
 * refused a store. Needs `npm run build` (dist/), as the CLI tests do.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadPipelineModule, runPipeline } from '../../src/pipeline/index.js';
import { stepChildLauncher } from '../../src/pipeline/step-host/launcher.js';
import { registerComponent } from '../../src/stack/component-ops.js';
import { Keystack } from '../../src/stack/client.js';

let ks: Keystack | undefined;
afterEach(async () => {
  await ks?.close();
  ks = undefined;
});

describe('stepChildLauncher', () => {
  it('starts the step child entry when the build has it, else the CLI bundle, else nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keystack-dist-'));
    expect(stepChildLauncher(dir)).toBeUndefined();
    writeFileSync(join(dir, 'cli.cjs'), '');
    expect(stepChildLauncher(dir)).toEqual({
      command: process.execPath,
      args: [join(dir, 'cli.cjs'), 'pipeline', '__step'],
    });
    writeFileSync(join(dir, 'step-child.cjs'), '');
    expect(stepChildLauncher(dir)).toEqual({ command: process.execPath, args: [join(dir, 'step-child.cjs')] });
  });
});

describe('the built step child', () => {
  it('runs a step with its declared secret without loading the CLI or better-sqlite3', async () => {
    const launcher = stepChildLauncher(resolve('dist'));
    expect(launcher?.args).toEqual([resolve('dist/step-child.cjs')]);
    const configDir = mkdtempSync(join(tmpdir(), 'keystack-entry-'));
    const k = new Keystack({ configDir, env: {} });
    ks = k;
    registerComponent(k, { type: 'orchestrator', name: 'proc', flavor: 'local_process' });
    k.updateStack('default', { orchestrator: 'proc' });
    await (await k.secretsManager()).register('api', { token: 'entry-token-51' });
    const root = mkdtempSync(join(tmpdir(), 'keystack-entry-code-'));
    const mod = join(root, 'probe.mjs');
    // The module imports the built library, as a user's pipeline imports keystack.
    writeFileSync(
      mod,
      `import { createRequire } from 'node:module';\n` +
        `import { pipeline, step } from ${JSON.stringify(resolve('dist/lib/index.js'))};\n` +
        `const probe = step({ name: 'probe', secrets: ['api'], enableCache: false, run: async (_i, c) => {\n` +
        `  const read = JSON.stringify(await c.secrets.get('api')).includes('entry-token-51');\n` +
        `  const loaded = Object.keys(createRequire(import.meta.url).cache);\n` +
        `  return { entry: process.argv[1], read,\n` +
        `    sqlite: loaded.filter((f) => f.includes('better-sqlite3')).length,\n` +
        `    cli: loaded.filter((f) => f.endsWith('cli.cjs')).length }; } });\n` +
        `export default pipeline('probe', () => probe());\n`,
    );
    const loaded = await loadPipelineModule(mod);
    const r = await runPipeline(k, loaded.pipeline, {
      module: { path: loaded.module, exportName: loaded.exportName },
      worker: launcher,
    });
    expect(r.run.status).toBe('completed');
    expect(r.outputs['probe']).toEqual({
      entry: resolve('dist/step-child.cjs'),
      read: true,
      sqlite: 0,
      cli: 0,
    });
  });

  it('runs a pipeline module that imports keystack/pipeline, the step definitions alone', async () => {
    const lib = await import(resolve('dist/lib/index.js'));
    const authoring = await import(resolve('dist/lib/pipeline/authoring.js'));
    // The same functions as the main entry's: a pipeline defined with either runs the same way.
    expect(authoring.step).toBe(lib.step);
    expect(authoring.pipeline).toBe(lib.pipeline);
    const configDir = mkdtempSync(join(tmpdir(), 'keystack-entry-'));
    const k = new Keystack({ configDir, env: {} });
    ks = k;
    registerComponent(k, { type: 'orchestrator', name: 'proc', flavor: 'local_process' });
    k.updateStack('default', { orchestrator: 'proc' });
    await (await k.secretsManager()).register('api', { token: 'light-token-52' });
    const mod = join(mkdtempSync(join(tmpdir(), 'keystack-entry-code-')), 'light.mjs');
    writeFileSync(
      mod,
      `import { pipeline, step } from ${JSON.stringify(resolve('dist/lib/pipeline/authoring.js'))};\n` +
        `const a = step({ name: 'a', secrets: ['api'], enableCache: false, run: async (_i, c) =>\n` +
        `  JSON.stringify(await c.secrets.get('api')).includes('light-token-52') });\n` +
        `const b = step({ name: 'b', enableCache: false, run: async ({ x }) => ({ got: x }) });\n` +
        `export default pipeline('light', () => b({ x: a() }));\n`,
    );
    const loaded = await loadPipelineModule(mod);
    const r = await runPipeline(k, loaded.pipeline, {
      module: { path: loaded.module, exportName: loaded.exportName },
      worker: stepChildLauncher(resolve('dist')),
    });
    expect(r.run.status).toBe('completed');
    expect(r.outputs['a']).toBe(true);
    expect(r.outputs['b']).toEqual({ got: true });
  });
});
