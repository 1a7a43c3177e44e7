/**
 * Node 22+'s compile cache in step children (parent.ts childEnv, support/compile-cache.ts): a child
 * of this Node gets the CLI's cache directory as NODE_COMPILE_CACHE, and fills it; none with
 * NODE_DISABLE_COMPILE_CACHE=1, none for a directory others can write, and none for a child run
 * as another user (--step-user), whatever the worker's environment says.
 */
import type { spawn as spawnType } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CollectingSink } from '../../src/core/provenance.js';
import type { StepNode } from '../../src/pipeline/index.js';
import { loadPipelineModule } from '../../src/pipeline/index.js';
import type { JobEnvelope } from '../../src/pipeline/remote/envelope.js';
import { stepHost, type StepHost } from '../../src/pipeline/remote/step-host.js';
import { scrubbedEnv } from '../../src/pipeline/step-host/env.js';
import { stepChildLauncher } from '../../src/pipeline/step-host/launcher.js';
import { spawnStepChild } from '../../src/pipeline/step-host/parent.js';
import { Keystack } from '../../src/stack/client.js';
import { StackRuntime } from '../../src/stack/runtime.js';
import { hasCompileCache } from '../../src/support/compile-cache.js';

/** A spawn that starts nothing and records the environment it was given. */
function recordingSpawn() {
  const envs: Record<string, string | undefined>[] = [];
  const fake = ((_cmd: string, _args: string[], o: { env: Record<string, string> }) => {
    envs.push(o.env);
    return Object.assign(new EventEmitter(), { send: () => true, kill: () => true });
  }) as unknown as typeof spawnType;
  return { fake, envs };
}

const launcher = { command: process.execPath, args: [resolve('src/pipeline/step-host/entry.ts')] };
const cacheBase = () => mkdtempSync(join(tmpdir(), 'keystack-cc-'));

describe('a step child run as another user (--step-user)', () => {
  it('gets no compile cache, even when the worker has one set', () => {
    const { fake, envs } = recordingSpawn();
    const base = cacheBase();
    spawnStepChild(fake, {
      launcher,
      env: { HOME: base, XDG_CACHE_HOME: base, NODE_COMPILE_CACHE: join(base, 'worker-cache') },
      user: { name: 'steps', uid: 65534, gid: 65534, home: '/home/steps' },
    });
    expect(envs[0]?.['NODE_COMPILE_CACHE']).toBeUndefined();
    expect(envs[0]?.['NODE_DISABLE_COMPILE_CACHE']).toBe('1');
    expect(envs[0]?.['HOME']).toBe('/home/steps');
    // Not even created for the worker's user on the step user's behalf.
    expect(existsSync(join(base, 'keystack'))).toBe(false);
  });
});

describe.skipIf(!hasCompileCache())('a step child of this Node (Node 22+)', () => {
  it('gets the private cache directory under the user cache dir', () => {
    const { fake, envs } = recordingSpawn();
    const base = cacheBase();
    spawnStepChild(fake, { launcher, env: { HOME: base, XDG_CACHE_HOME: base } });
    const dir = join(base, 'keystack', 'compile-cache');
    expect(envs[0]?.['NODE_COMPILE_CACHE']).toBe(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('gets none with NODE_DISABLE_COMPILE_CACHE=1', () => {
    const { fake, envs } = recordingSpawn();
    const base = cacheBase();
    spawnStepChild(fake, { launcher, env: { HOME: base, XDG_CACHE_HOME: base, NODE_DISABLE_COMPILE_CACHE: '1' } });
    expect(envs[0]?.['NODE_COMPILE_CACHE']).toBeUndefined();
    expect(existsSync(join(base, 'keystack'))).toBe(false);
  });

  it('gets none when the cache directory is not private', () => {
    const { fake, envs } = recordingSpawn();
    const base = cacheBase();
    mkdirSync(join(base, 'keystack', 'compile-cache'), { recursive: true });
    chmodSync(join(base, 'keystack', 'compile-cache'), 0o777);
    spawnStepChild(fake, { launcher, env: { HOME: base, XDG_CACHE_HOME: base } });
    expect(envs[0]?.['NODE_COMPILE_CACHE']).toBeUndefined();
  });

  it('gets none for an entry in a directory other users can write', () => {
    const { fake, envs } = recordingSpawn();
    const base = cacheBase();
    const code = join(base, 'code');
    mkdirSync(code);
    chmodSync(code, 0o777);
    spawnStepChild(fake, { launcher: { ...launcher, args: [join(code, 'step-child.cjs')] }, env: { HOME: base } });
    expect(envs[0]?.['NODE_COMPILE_CACHE']).toBeUndefined();
  });
});

let host: StepHost | undefined;
let ks: Keystack | undefined;
afterEach(async () => {
  host?.close();
  host = undefined;
  await ks?.close();
  ks = undefined;
});

/** Runs one step of a module importing `keystack` in a built step child; `env` is the worker's. */
async function runStep(env: Record<string, string | undefined>) {
  const built = stepChildLauncher(resolve('dist'));
  if (!built) throw new Error('no dist/step-child.cjs: run npm run build first');
  const configDir = mkdtempSync(join(tmpdir(), 'keystack-cc-cfg-'));
  ks = new Keystack({ configDir, env: {} });
  const stack = await StackRuntime.load(ks);
  const dir = mkdtempSync(join(tmpdir(), 'keystack-cc-code-'));
  const file = join(dir, 'p.mjs');
  writeFileSync(
    file,
    `import { pipeline, step } from ${JSON.stringify(resolve('dist/lib/pipeline/authoring.js'))};\n` +
      `const one = step({ name: 'one', enableCache: false, run: async () => 41 + 1 });\n` +
      `export default pipeline('p', () => one());\n`,
  );
  const node = (await loadPipelineModule(file)).pipeline.graph()[0] as StepNode;
  host = await stepHost({ launcher: built, env: scrubbedEnv(env), user: undefined, spares: 0 });
  const out = await host.run(
    { stack, module: { path: file, exportName: 'default' }, own: { configDir, env: {} } },
    { runId: 'run-cc', pipeline: 'p' } as JobEnvelope,
    node,
    {},
    60,
    { worker: 'w', attempt: 1, sink: new CollectingSink() },
  );
  host.close();
  host = undefined;
  return out.value;
}

/** Files in the cache directory's per-version subdirectories, once the child has exited. */
async function cached(base: string): Promise<number> {
  const dir = join(base, 'keystack', 'compile-cache');
  for (let i = 0; i < 100; i++) {
    const n = existsSync(dir) ? readdirSync(dir).flatMap((v) => readdirSync(join(dir, v))).length : 0;
    if (n > 0) return n;
    await new Promise((r) => setTimeout(r, 50));
  }
  return 0;
}

describe.skipIf(!hasCompileCache())('a built step child running a step (Node 22+)', () => {
  it('fills the compile cache', async () => {
    const base = cacheBase();
    expect(await runStep({ ...process.env, HOME: base, XDG_CACHE_HOME: base })).toBe(42);
    expect(await cached(base)).toBeGreaterThan(0);
  });

  it('leaves it alone with NODE_DISABLE_COMPILE_CACHE=1', async () => {
    const base = cacheBase();
    expect(await runStep({ ...process.env, HOME: base, XDG_CACHE_HOME: base, NODE_DISABLE_COMPILE_CACHE: '1' })).toBe(
      42,
    );
    expect(existsSync(join(base, 'keystack'))).toBe(false);
  });
});
