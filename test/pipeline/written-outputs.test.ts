/**
 * A worker keeps the outputs it wrote (remote/worker-cache.ts), as bytes, so that the next step
 * on it reads its input without a GET. Here the cache alone and over a real local store: its cap
 * and eviction, and that what it answers is what the store would (a fresh value every read, the
 * same hash). The remote path on moto is test/remote/written-outputs.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeArtifact, type ArtifactStore } from '../../src/pipeline/artifact-store.js';
import { LocalArtifactStore } from '../../src/pipeline/local-artifacts.js';
import {
  keepingWrittenOutputs,
  WRITTEN_OUTPUT_MAX_BYTES,
  WrittenOutputs,
} from '../../src/pipeline/remote/worker-cache.js';
import { Keystack } from '../../src/stack/client.js';
import { StackRuntime } from '../../src/stack/runtime.js';

const bytes = (n: number, fill = 'x') => Buffer.from(fill.repeat(n));

describe('WrittenOutputs', () => {
  it('never holds more than its cap: the least recently used goes first', () => {
    const c = new WrittenOutputs({ capBytes: 100, maxEntryBytes: 40 });
    c.put('a', bytes(30));
    c.put('b', bytes(30));
    c.put('c', bytes(30));
    expect(c.bytes).toBe(90);
    c.get('a'); // a is now the most recently used: b goes next
    c.put('d', bytes(30));
    expect(c.bytes).toBe(90);
    expect(c.get('b')).toBeUndefined();
    expect([c.get('a'), c.get('c'), c.get('d')].every((v) => v !== undefined)).toBe(true);
    // One large enough to push out two.
    c.put('e', bytes(40));
    expect(c.bytes).toBeLessThanOrEqual(100);
    expect(c.size).toBe(3);
    expect(c.get('a')).toBeUndefined();
  });

  it('keeps no entry over its size limit, and a replaced key is counted once', () => {
    const c = new WrittenOutputs({ capBytes: 100, maxEntryBytes: 40 });
    c.put('big', bytes(41));
    expect(c.get('big')).toBeUndefined();
    expect(c.bytes).toBe(0);
    c.put('k', bytes(30));
    c.put('k', bytes(20, 'y'));
    expect(c.bytes).toBe(20);
    expect(c.get('k')?.toString()).toBe('y'.repeat(20));
    // A larger replacement that is refused leaves no stale value behind.
    c.put('k', bytes(41));
    expect(c.get('k')).toBeUndefined();
    expect(c.bytes).toBe(0);
  });

  it('holds its own copy of the bytes', () => {
    const c = new WrittenOutputs();
    const source = Buffer.from('{"value":1}');
    c.put('k', source);
    source.write('{"value":2}');
    expect(c.get('k')?.toString()).toBe('{"value":1}');
  });

  it('forgets a run’s outputs, or one output, in every store', () => {
    const c = new WrittenOutputs();
    for (const k of ['s1\0run-1/a.json', 's2\0run-1/a.json', 's1\0run-1/b.json', 's1\0run-10/a.json'])
      c.put(k, bytes(5));
    c.forgetOutput('run-1/a.json');
    expect(c.size).toBe(2);
    expect(c.get('s1\0run-1/b.json')).toBeDefined();
    c.forgetRun('run-1');
    expect(c.size).toBe(1);
    expect(c.bytes).toBe(5);
    // run-10 is another run, not one whose id starts the same.
    expect(c.get('s1\0run-10/a.json')).toBeDefined();
  });
});

describe('a store that keeps what it wrote', () => {
  const open: Keystack[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((k) => k.close()));
  });

  /** A real local store, and how many reads reached it. */
  async function localStore(): Promise<{ store: ArtifactStore; reads: () => number }> {
    const ks = new Keystack({ configDir: mkdtempSync(join(tmpdir(), 'keystack-written-')), env: {} });
    open.push(ks);
    const inner = new LocalArtifactStore((await StackRuntime.load(ks)).artifactStore, ks.configDir);
    let reads = 0;
    const store: ArtifactStore = {
      component: inner.component,
      copies: inner.copies,
      write: (uri, value, encoded) => inner.write(uri, value, encoded),
      read: (uri) => (reads++, inner.read(uri)),
      readable: (uri) => inner.readable(uri),
      putCacheEntry: (k, e) => inner.putCacheEntry(k, e),
      findCacheEntries: (k) => inner.findCacheEntries(k),
    };
    return { store, reads: () => reads };
  }

  it('answers a read of its own output without the store, with a fresh value the store would give', async () => {
    const { store, reads } = await localStore();
    const kept = keepingWrittenOutputs(store, new WrittenOutputs());
    const value = { xs: [1, 2, 3], nested: { s: 'é' }, n: null };
    const stored = await kept.write('run-1/a.json', value);
    const first = (await kept.read('run-1/a.json')) as typeof value;
    expect(reads()).toBe(0);
    expect(first).toEqual(value);
    expect(first).not.toBe(value);
    // The same value, so the same hash, as a read from the store.
    expect(encodeArtifact(first).hash).toBe(stored.hash);
    expect(encodeArtifact(await store.read('run-1/a.json')).hash).toBe(stored.hash);
    // A step that mutates what it received changes nothing for the next reader; nor does the writer.
    first.xs.push(4);
    first.nested.s = 'changed';
    value.xs.length = 0;
    expect(await kept.read('run-1/a.json')).toEqual({ xs: [1, 2, 3], nested: { s: 'é' }, n: null });
  });

  it('reads from the store what it did not write, and keeps none of it', async () => {
    const { store, reads } = await localStore();
    const kept = keepingWrittenOutputs(store, new WrittenOutputs());
    await store.write('run-1/other.json', 'by another worker');
    expect(await kept.read('run-1/other.json')).toBe('by another worker');
    expect(await kept.read('run-1/other.json')).toBe('by another worker');
    expect(reads()).toBe(2);
  });

  it('reads an output over the size limit from the store', async () => {
    const { store, reads } = await localStore();
    const outputs = new WrittenOutputs();
    const kept = keepingWrittenOutputs(store, outputs);
    const big = 'z'.repeat(WRITTEN_OUTPUT_MAX_BYTES);
    await kept.write('run-1/big.json', big);
    expect(outputs.size).toBe(0);
    expect(await kept.read('run-1/big.json')).toBe(big);
    expect(reads()).toBe(1);
  });

  it('keeps the outputs of two stores apart, though their URIs are the same', async () => {
    const one = await localStore();
    const two = await localStore();
    const outputs = new WrittenOutputs();
    await keepingWrittenOutputs(one.store, outputs).write('run-1/a.json', 'in one');
    await two.store.write('run-1/a.json', 'in two');
    expect(await keepingWrittenOutputs(two.store, outputs).read('run-1/a.json')).toBe('in two');
    expect(two.reads()).toBe(1);
  });

  it('keeps nothing when the store refuses the write', async () => {
    const { store } = await localStore();
    const outputs = new WrittenOutputs();
    const kept = keepingWrittenOutputs(store, outputs);
    await expect(kept.write('../outside.json', 1)).rejects.toThrow(/relative path/);
    expect(outputs.size).toBe(0);
  });
});
