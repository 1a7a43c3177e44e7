/**
 * What a worker process sets up once rather than once per run (issue 22, target 3): the private
 * config store built from a job's stack snapshot, kept by the snapshot's hash (the client signs
 * that hash, so a job carrying another snapshot gets another store, never a stale one); the
 * pipeline module and its graph, kept by the module's hash, which the worker checks against the
 * file on every run; and the artifact stores' SDKs, loaded when the worker starts rather than by
 * the first step.
 *
 * What stays per run: the stack runtime, with its cache of secret values, so that each secret is
 * still read once per run with the worker's own credentials and a rotated secret is seen by the
 * next run. The sealing key of the artifacts is memoised per process in support/aead.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keystack } from '../../stack/client.js';
import type { Pipeline, StepNode } from '../step.js';
import type { StackSnapshot } from './snapshot.js';

/**
 * Promises kept by key, at most `keep` of them, the least recently used going first. A promise
 * that rejects is dropped, so the next caller tries again (credentials may have been fixed).
 */
export class KeptByKey<V> {
  readonly #entries = new Map<string, Promise<V>>();
  readonly #keep: number;
  readonly #dispose: (v: V) => unknown;

  constructor(keep: number, dispose: (v: V) => unknown = () => undefined) {
    this.#keep = keep;
    this.#dispose = dispose;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, make: () => Promise<V>): Promise<V> {
    const known = this.#entries.get(key);
    if (known) {
      this.#entries.delete(key);
      this.#entries.set(key, known);
      return known;
    }
    const v = make();
    v.catch(() => {
      if (this.#entries.get(key) === v) this.#entries.delete(key);
    });
    this.#entries.set(key, v);
    while (this.#entries.size > this.#keep) {
      const [oldest, old] = this.#entries.entries().next().value as [string, Promise<V>];
      this.#entries.delete(oldest);
      void old.then(this.#dispose, () => undefined);
    }
    return v;
  }

  async clear(): Promise<void> {
    const all = [...this.#entries.values()];
    this.#entries.clear();
    for (const v of all) await v.then(this.#dispose, () => undefined);
  }
}

/** A worker's private config store holding one snapshot's components. */
export interface SnapshotStore {
  ks: Keystack;
  dir: string;
  /** The snapshot's stack, as installed. */
  stackName: string;
}

/** Builds the private store of a snapshot; `install` puts the components in and names the stack. */
export async function buildSnapshotStore(
  snapshot: StackSnapshot,
  env: Readonly<Record<string, string | undefined>>,
  install: (ks: Keystack, snapshot: StackSnapshot) => string,
): Promise<SnapshotStore> {
  const dir = mkdtempSync(join(tmpdir(), 'keystack-worker-'));
  const ks = new Keystack({ configDir: dir, env, onWarning: () => undefined });
  try {
    return { ks, dir, stackName: install(ks, snapshot) };
  } catch (e) {
    await closeSnapshotStore({ ks, dir, stackName: '' });
    throw e;
  }
}

export async function closeSnapshotStore(s: SnapshotStore): Promise<void> {
  await s.ks.close().catch(() => undefined);
  rmSync(s.dir, { recursive: true, force: true });
}

/** A pipeline module as loaded, with its graph (the same for every run of the same content). */
export interface LoadedPipeline {
  pipeline: Pipeline;
  nodes: StepNode[];
}

/** The key of a module as the client signed it: its content's hash and the export it names. */
export function moduleKey(module: { sha256: string; exportName?: string | undefined }): string {
  return `${module.sha256}:${module.exportName ?? ''}`;
}

/** Artifact-store flavors whose SDK a worker loads when it starts, by the module that loads it. */
const SDK_PRELOADS: Readonly<Record<string, () => Promise<unknown>>> = {
  s3: async () => (await import('../s3-artifacts.js')).loadS3Sdk(),
};

/**
 * Loads the SDKs of the artifact-store flavors the worker may write to, so that the first step
 * does not pay for them. A missing optional package is not an error here: the step that needs
 * it says so.
 */
export function preloadArtifactSdks(flavors: Iterable<string>): Promise<void> {
  const loads = [...new Set(flavors)].flatMap((f) => (Object.hasOwn(SDK_PRELOADS, f) ? [SDK_PRELOADS[f]] : []));
  return Promise.all(loads.map((load) => (load as () => Promise<unknown>)().catch(() => undefined))).then(
    () => undefined,
  );
}
