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
 *
 * And the outputs the worker wrote (WrittenOutputs), as bytes, so that the next step of a chain
 * on the same worker reads its input without asking the store for what it just wrote.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keystack } from '../../stack/client.js';
import { decodeArtifact, encodeArtifact, type ArtifactStore } from '../artifact-store.js';
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

/** The largest output a worker keeps after writing it; a larger one is read back from the store. */
export const WRITTEN_OUTPUT_MAX_BYTES = 64 * 1024;
/** What a worker keeps of the outputs it wrote, all together. */
export const WRITTEN_OUTPUTS_CAP_BYTES = 16 * 1024 * 1024;

/**
 * The outputs this worker process wrote, as the encoded bytes it handed to the store (before
 * sealing), so that the next step of a chain on the same worker reads its input without a GET
 * (issue 22). At most `capBytes` in all, the least recently used going first; an output larger
 * than `maxEntryBytes` is not kept.
 *
 * Bytes, never a value: each read decodes afresh, so a step that mutates the input it received
 * cannot change what the next read returns, and the value (and its hash) is what a read from the
 * store would give.
 *
 * Trust: only what this process itself wrote under a URI goes in, after the store confirmed the
 * write. Nothing read from the store or from Redis does: those may have been written by anyone
 * who can write there, and a cache fed from them would keep a forged value past the checks the
 * store's sealing makes on every read.
 */
export class WrittenOutputs {
  readonly #entries = new Map<string, Buffer>();
  readonly #maxEntryBytes: number;
  readonly #capBytes: number;
  #bytes = 0;

  constructor(o: { maxEntryBytes?: number; capBytes?: number } = {}) {
    this.#maxEntryBytes = o.maxEntryBytes ?? WRITTEN_OUTPUT_MAX_BYTES;
    this.#capBytes = o.capBytes ?? WRITTEN_OUTPUTS_CAP_BYTES;
  }

  /** The bytes held, which never exceed the cap. */
  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  put(key: string, json: Buffer): void {
    this.delete(key);
    if (json.length > this.#maxEntryBytes || json.length > this.#capBytes) return;
    // A copy of its own: a small Buffer is often a view of a shared 8 KiB pool slab, which would
    // keep the whole slab alive and make the cap count less than what is held.
    const own = Buffer.allocUnsafeSlow(json.length);
    json.copy(own);
    this.#entries.set(key, own);
    this.#bytes += own.length;
    while (this.#bytes > this.#capBytes) {
      const [oldest] = this.#entries.keys();
      this.delete(oldest as string);
    }
  }

  get(key: string): Buffer | undefined {
    const json = this.#entries.get(key);
    if (json) {
      this.#entries.delete(key);
      this.#entries.set(key, json);
    }
    return json;
  }

  delete(key: string): void {
    const json = this.#entries.get(key);
    if (!json) return;
    this.#entries.delete(key);
    this.#bytes -= json.length;
  }

  /** Drops the output at `uri`, in whichever store: an attempt that wrote it did not complete. */
  forgetOutput(uri: string): void {
    this.#deleteWhere((u) => u === uri);
  }

  /** Drops every output of a run (URIs `RUN/STEP.json`): the worker is done with the run. */
  forgetRun(runId: string): void {
    this.#deleteWhere((u) => u.startsWith(`${runId}/`));
  }

  #deleteWhere(matches: (uri: string) => boolean): void {
    for (const key of [...this.#entries.keys()]) if (matches(uriOf(key))) this.delete(key);
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}

/**
 * The part of a WrittenOutputs key that names the store: its identity and config, hashed (the
 * config may hold a credential in plain), so that outputs of two stores, or of one store before
 * and after its config changed, never meet.
 */
function storeIdentity(store: ArtifactStore): string {
  const c = store.component;
  return createHash('sha256')
    .update(JSON.stringify([c.record.uuid, c.flavor.name, c.config]))
    .digest('hex');
}

/** The URI a key of a WrittenOutputs names (keys are `STORE\0URI`). */
function uriOf(key: string): string {
  return key.slice(key.indexOf('\0') + 1);
}

/**
 * `store`, keeping in `outputs` what it writes and answering a read of it from there; every
 * other read goes to the store as before. Every write still goes to the store, and is kept only
 * once the store confirmed it: the step is not reported complete before its output is stored.
 */
export function keepingWrittenOutputs(store: ArtifactStore, outputs: WrittenOutputs): ArtifactStore {
  const id = storeIdentity(store);
  const key = (uri: string) => `${id}\0${uri}`;
  return {
    component: store.component,
    copies: store.copies,
    async write(uri, value, encoded) {
      // Encoded here when the caller did not (a cached step's copy), so that what is kept is
      // exactly what the store wrote.
      const enc = encoded ?? encodeArtifact(value);
      const stored = await store.write(uri, value, enc);
      outputs.put(key(uri), enc.json);
      return stored;
    },
    async read(uri) {
      const json = outputs.get(key(uri));
      return json ? decodeArtifact(json, uri, store.component.name) : store.read(uri);
    },
    readable: (uri) => store.readable(uri),
    putCacheEntry: (cacheKey, entry) => store.putCacheEntry(cacheKey, entry),
    findCacheEntries: (cacheKey) => store.findCacheEntries(cacheKey),
  };
}
