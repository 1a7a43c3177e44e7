/**
 * Sealed artifacts: KSA2 records its key-derivation parameters and is honoured as recorded; KSA1,
 * written by older versions with scrypt's defaults, stays readable, as artifacts and as cache hits.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactSealer } from '../../src/pipeline/sealing.js';
import { UnreadableArtifactError } from '../../src/pipeline/artifact-store.js';
import { LocalArtifactStore } from '../../src/pipeline/local-artifacts.js';
import { pipeline, runPipeline, step } from '../../src/pipeline/index.js';
import { Keystack } from '../../src/stack/client.js';
import { updateComponent } from '../../src/stack/component-ops.js';
import { StackRuntime, type ResolvedComponent } from '../../src/stack/runtime.js';
import { deriveKey, deriveKeySync, encodeKdfParams, KDF_POLICY, seal } from '../../src/support/aead.js';
import { sealArtifact, sealingKey } from './fixtures/ksa1-sealing.js';

const PASS = 'test-artifact-passphrase';
const SALT = 'keystack-artifacts:test-salt';
const URI = 'run-1/step.json';
const JSON_BODY = Buffer.from(JSON.stringify({ value: { n: 42 } }));

/** The one thing the sealer asks of a component: its encryption_key. */
function component(passphrase: string | undefined): ResolvedComponent {
  return {
    name: 'art',
    getString: (f: string) => Promise.resolve(f === 'encryption_key' ? passphrase : undefined),
  } as unknown as ResolvedComponent;
}

describe('KSA2', () => {
  it('round-trips, and its header names the policy: scrypt, N=2^15, r=8, p=1', async () => {
    const sealer = new ArtifactSealer(component(PASS), SALT);
    const sealed = await sealer.seal(JSON_BODY, URI);
    expect([...sealed.subarray(0, 8)]).toEqual([...Buffer.from('KSA2'), 1, 15, 8, 1]);
    expect(sealed.includes(JSON_BODY)).toBe(false);
    expect(await sealer.open(sealed, URI)).toEqual(JSON_BODY);
    // A second sealer (another process's store) with the same passphrase and salt reads it.
    expect(await new ArtifactSealer(component(PASS), SALT).open(sealed, URI)).toEqual(JSON_BODY);
  });

  it('derives the key with the parameters the header records, not the current policy', async () => {
    const params = { N: 2 ** 12, r: 4, p: 2 };
    const head = Buffer.concat([Buffer.from('KSA2'), encodeKdfParams(params)]);
    const sealed = seal(deriveKeySync(PASS, SALT, params), Buffer.concat([head, Buffer.from(URI)]), JSON_BODY, head);
    expect(await new ArtifactSealer(component(PASS), SALT).open(sealed, URI)).toEqual(JSON_BODY);
  });

  it('a tampered header, body or URI fails to open with a clear error', async () => {
    const sealer = new ArtifactSealer(component(PASS), SALT);
    const sealed = await sealer.seal(JSON_BODY, URI);
    const altered = (at: number, byte: number) =>
      Buffer.concat([sealed.subarray(0, at), Buffer.from([byte]), sealed.subarray(at + 1)]);
    const cannotDecrypt =
      /^cannot decrypt artifact run-1\/step.json of artifact-store 'art': wrong encryption_key, or the file was altered$/;
    const damaged = /^artifact run-1\/step.json of artifact-store 'art' has a damaged header/;
    // Other (acceptable) parameters: another key, and the header is authenticated anyway.
    await expect(sealer.open(altered(5, 14), URI)).rejects.toThrow(cannotDecrypt);
    await expect(sealer.open(altered(6, 4), URI)).rejects.toThrow(cannotDecrypt);
    // Parameters no keystack writes are refused before any key is derived from them.
    await expect(sealer.open(altered(5, 40), URI)).rejects.toThrow(damaged);
    await expect(sealer.open(altered(4, 9), URI)).rejects.toThrow(damaged);
    await expect(sealer.open(altered(7, 200), URI)).rejects.toThrow(damaged);
    // Read as KSA1, the header's bytes become the nonce: no match.
    await expect(sealer.open(altered(3, '1'.charCodeAt(0)), URI)).rejects.toThrow(cannotDecrypt);
    await expect(sealer.open(altered(sealed.length - 1, sealed.at(-1)! ^ 1), URI)).rejects.toThrow(cannotDecrypt);
    await expect(sealer.open(sealed.subarray(0, 20), URI)).rejects.toThrow(cannotDecrypt);
    await expect(sealer.open(sealed, 'run-1/other.json')).rejects.toThrow(
      /^cannot decrypt artifact run-1\/other.json of/,
    );
    await expect(sealer.open(altered(5, 40), URI)).rejects.toBeInstanceOf(UnreadableArtifactError);
  });

  it('says so when the store has no encryption_key, and leaves plain JSON as it is', async () => {
    const sealed = await new ArtifactSealer(component(PASS), SALT).seal(JSON_BODY, URI);
    const keyless = new ArtifactSealer(component(undefined), SALT);
    await expect(keyless.open(sealed, URI)).rejects.toThrow(
      /^artifact run-1\/step.json is encrypted, but artifact-store 'art' has no encryption_key$/,
    );
    expect(await keyless.seal(JSON_BODY, URI)).toBe(JSON_BODY);
    expect(await keyless.open(JSON_BODY, URI)).toBe(JSON_BODY);
  });
});

describe('KSA1, as older versions wrote it', () => {
  it('opens with its unrecorded parameters (scrypt defaults, N=2^14)', async () => {
    const sealed = sealArtifact(await sealingKey(PASS, SALT), JSON_BODY, URI);
    expect(sealed.subarray(0, 4).toString()).toBe('KSA1');
    expect(await new ArtifactSealer(component(PASS), SALT).open(sealed, URI)).toEqual(JSON_BODY);
    await expect(new ArtifactSealer(component('another-passphrase'), SALT).open(sealed, URI)).rejects.toThrow(
      /wrong encryption_key/,
    );
  });

  describe('in a local store', () => {
    let ks: Keystack | undefined;
    afterEach(async () => ks?.close());

    it('stays a cache hit: its cache entry and artifact are read as they were written', async () => {
      ks = new Keystack({ configDir: mkdtempSync(join(tmpdir(), 'keystack-ksa1-')), env: {} });
      updateComponent(ks, 'artifact_store', 'default', { encryption_key: '{{art.key}}' });
      await (await ks.secretsManager()).register('art', { key: PASS });
      let calls = 0;
      const p = pipeline('old', () => step({ name: 'calc', run: async () => (calls++, { n: 42 }) })());
      const first = await runPipeline(ks, p);
      // Replace the output with the same JSON sealed by the old code, under the store's old salt.
      const component = (await StackRuntime.load(ks)).artifactStore;
      const file = join(ks.configDir, 'artifacts', first.run.id, 'calc.json');
      const uri = `${first.run.id}/calc.json`;
      const json = await new LocalArtifactStore(component, ks.configDir)
        .read(uri)
        .then((value) => Buffer.from(JSON.stringify({ value })));
      writeFileSync(
        file,
        sealArtifact(await sealingKey(PASS, `keystack-artifacts:${component.record.uuid}`), json, uri),
      );
      expect(readFileSync(file).subarray(0, 4).toString()).toBe('KSA1');

      const again = await runPipeline(ks, p);
      expect(again.steps.map((s) => s.status)).toEqual(['cached']);
      expect(again.outputs).toEqual({ calc: { n: 42 } });
      expect(calls).toBe(1);
    });
  });
});

describe('the derived-key memo', () => {
  it('derives once per passphrase, salt and parameters in a process', async () => {
    const a = await deriveKey('memo-passphrase', SALT);
    expect(await deriveKey('memo-passphrase', SALT)).toBe(a);
    expect(deriveKeySync('memo-passphrase', SALT, KDF_POLICY)).toBe(a);
    expect(deriveKeySync('memo-passphrase', SALT, { N: 2 ** 14, r: 8, p: 1 })).not.toEqual(a);
    expect(await deriveKey('memo-passphrase', `${SALT}x`)).not.toEqual(a);
  });
});
