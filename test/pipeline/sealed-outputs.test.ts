/**
 * Sealed copies of outputs (remote/sealed-outputs.ts): what a worker makes, and what a reader
 * accepts instead of asking the store. Everything that is not a copy made under the store's key
 * for exactly the URI read (and, where the reader knows it, the signed hash) is refused, reported,
 * and the output read from the store. The remote path on moto is test/remote/written-outputs.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { encodeArtifact, type ArtifactStore } from '../../src/pipeline/artifact-store.js';
import { readOutput, sealedCopyOf, sealedInputsWithin } from '../../src/pipeline/remote/sealed-outputs.js';
import { ArtifactSealer } from '../../src/pipeline/sealing.js';
import type { ResolvedComponent } from '../../src/stack/runtime.js';

const URI = '6f1c1a52-7d0e-4b8e-9a4f-0c2d7e1b9a30/train.json';
const OTHER_RUN_URI = '0a0a0a0a-7d0e-4b8e-9a4f-0c2d7e1b9a30/train.json';
const OPEN = { maxBytes: 64 * 1024, allowSecretOutputs: [] };

function component(passphrase: string | undefined): ResolvedComponent {
  return {
    name: 'art',
    getString: (f: string) => Promise.resolve(f === 'encryption_key' ? passphrase : undefined),
  } as unknown as ResolvedComponent;
}

/** A store whose reads are counted and answer `stored`; its copies are sealed as a real store's. */
/** `null`: a store without an encryption_key. */
function store(passphrase: string | null = 'store-passphrase', stored: unknown = 'from the store') {
  const c = component(passphrase ?? undefined);
  let reads = 0;
  const s: ArtifactStore = {
    component: c,
    copies: new ArtifactSealer(c, 'keystack-artifacts:s3://bkt/runs'),
    write: () => Promise.reject(new Error('not written here')),
    read: async () => (reads++, stored),
    readable: async () => true,
    putCacheEntry: async () => undefined,
    findCacheEntries: async () => [],
  };
  return { s, reads: () => reads };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readWith(s: ArtifactStore, copy: string | undefined, uri = URI, hash?: string) {
  const refused: string[] = [];
  const value = await readOutput(s, uri, copy, { hash, onRefused: (r) => refused.push(r) });
  return { value, refused };
}

describe('a sealed copy of an output', () => {
  it('is made under the store’s key and read back without the store, with the signed hash', async () => {
    const { s, reads } = store();
    const value = { metrics: { loss: 0.25 }, marker: 'plain-marker-7f3a' };
    const encoded = encodeArtifact(value);
    const copy = await sealedCopyOf(s, URI, encoded, OPEN);
    expect(copy).toBeTypeOf('string');
    // Sealed: neither the JSON nor its base64 is in it.
    const bytes = Buffer.from(copy as string, 'base64');
    expect(bytes.includes(Buffer.from('plain-marker-7f3a'))).toBe(false);
    expect((copy as string).includes(Buffer.from('plain-marker-7f3a').toString('base64').slice(0, 12))).toBe(false);
    expect(bytes.subarray(0, 4).toString()).toBe('KSA2');
    const got = await readWith(s, copy, URI, encoded.hash);
    expect(got).toEqual({ value, refused: [] });
    expect(reads()).toBe(0);
  });

  it('is not made without an encryption_key, above the size limit, or for outputs allowed to carry secrets', async () => {
    const encoded = encodeArtifact({ n: 1 });
    expect(await sealedCopyOf(store(null).s, URI, encoded, OPEN)).toBeUndefined();
    expect(await sealedCopyOf(store().s, URI, encoded, { ...OPEN, maxBytes: encoded.json.length - 1 })).toBeUndefined();
    expect(await sealedCopyOf(store().s, URI, encoded, { ...OPEN, maxBytes: 0 })).toBeUndefined();
    expect(
      await sealedCopyOf(store().s, URI, encoded, { ...OPEN, allowSecretOutputs: ['db.password'] }),
    ).toBeUndefined();
    // At the limit it travels.
    expect(await sealedCopyOf(store().s, URI, encoded, { ...OPEN, maxBytes: encoded.json.length })).toBeTypeOf(
      'string',
    );
  });

  it('is refused when forged in clear, made for another run, altered, or under another key: the store answers', async () => {
    const { s, reads } = store();
    const encoded = encodeArtifact('the real output');
    const good = (await sealedCopyOf(s, URI, encoded, OPEN)) as string;
    const forgedClear = Buffer.from(JSON.stringify({ value: 'forged' })).toString('base64');
    const otherRun = (await sealedCopyOf(s, OTHER_RUN_URI, encoded, OPEN)) as string;
    const raw = Buffer.from(good, 'base64');
    raw[raw.length - 1] = (raw[raw.length - 1] as number) ^ 1;
    const altered = raw.toString('base64');
    const otherKey = (await sealedCopyOf(store('another-passphrase').s, URI, encoded, OPEN)) as string;
    for (const copy of [forgedClear, otherRun, altered, otherKey, 'not base64 at all!']) {
      const got = await readWith(s, copy);
      expect(got.value).toBe('from the store');
      expect(got.refused).toHaveLength(1);
      // The reason names the URI, never the copy.
      expect(got.refused[0]).toContain(URI);
      expect(got.refused[0]).not.toContain(copy.slice(0, 16));
    }
    expect(reads()).toBe(5);
  });

  it('is refused when it is a genuine copy of another output than the one its worker signed', async () => {
    const { s, reads } = store();
    // An earlier attempt's output under the same URI: it opens, but its hash is not the signed one.
    const earlier = (await sealedCopyOf(s, URI, encodeArtifact('attempt 1'), OPEN)) as string;
    const signed = encodeArtifact('attempt 2');
    const got = await readWith(s, earlier, URI, signed.hash);
    expect(got.value).toBe('from the store');
    expect(got.refused).toEqual([`the copy of ${URI} carried in Redis is not the output its worker signed`]);
    expect(reads()).toBe(1);
    expect(sha256(signed.json)).toBe(signed.hash);
  });

  it('leaves a read without a copy to the store, reporting nothing', async () => {
    const { s, reads } = store();
    expect(await readWith(s, undefined)).toEqual({ value: 'from the store', refused: [] });
    expect(reads()).toBe(1);
  });
});

describe('the sealed inputs of a job', () => {
  it('stay within the cap: a copy that would pass it is left out (read from the store), smaller ones after it still go', () => {
    const picked = sealedInputsWithin(
      [
        ['r/a.json', 'a'.repeat(40)],
        ['r/b.json', undefined],
        ['r/big.json', 'x'.repeat(70)],
        ['r/c.json', 'c'.repeat(50)],
      ],
      100,
    );
    expect(Object.keys(picked)).toEqual(['r/a.json', 'r/c.json']);
    expect(sealedInputsWithin([['r/a.json', 'a'.repeat(101)]], 100)).toEqual({});
  });
});
