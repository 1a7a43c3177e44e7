import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectReferences, formatReference, isReference, parseReference } from '../../src/secrets/reference.js';
import { Keystack } from '../../src/stack/client.js';
import { registerComponent, updateComponent } from '../../src/stack/component-ops.js';
import { SecretReferenceError } from '../../src/stack/references.js';
import { StackRuntime } from '../../src/stack/runtime.js';
import { assertStackValid } from '../../src/stack/validation.js';
import type { KeystackError } from '../../src/errors.js';

const nameArb = fc.stringMatching(/^[^.\s]{1,40}$/u);
const keyArb = fc.stringMatching(/^\S{1,40}$/u);
const wsArb = fc.constantFrom(' ', '\t', '\n', '\u00a0', '\u2003', '\u3000');

describe('reference parsing (property-based)', () => {
  it('parses {{name.key}} for names without dots and keys with anything but whitespace', () => {
    fc.assert(
      fc.property(nameArb, keyArb, (name, key) => {
        const text = `{{${name}.${key}}}`;
        expect(isReference(text)).toBe(true);
        expect(parseReference(text)).toEqual({ name, key });
        expect(formatReference({ name, key })).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it('splits at the first dot: dots belong to the key', () => {
    fc.assert(
      fc.property(
        nameArb,
        fc.array(fc.stringMatching(/^[^.\s]{1,8}$/u), { minLength: 2, maxLength: 5 }),
        (name, parts) => {
          expect(parseReference(`{{${name}.${parts.join('.')}}}`)).toEqual({ name, key: parts.join('.') });
        },
      ),
    );
  });

  it('rejects any whitespace, a missing dot, or wrong braces', () => {
    fc.assert(
      fc.property(nameArb, keyArb, wsArb, fc.nat(), (name, key, ws, at) => {
        const body = `${name}.${key}`;
        const i = at % (body.length + 1);
        expect(isReference(`{{${body.slice(0, i)}${ws}${body.slice(i)}}}`)).toBe(false);
        expect(isReference(`{{ ${body} }}`)).toBe(false);
        // A name starting with '{' and a key ending with '}' make `{body}` a real reference.
        if (!(body.startsWith('{') && body.endsWith('}'))) expect(isReference(`{${body}}`)).toBe(false);
        expect(isReference(`\${{${body}}}`)).toBe(false);
        expect(isReference(`x{{${body}}}`)).toBe(false);
        expect(isReference(`{{${body}}}x`)).toBe(false);
      }),
    );
    fc.assert(
      fc.property(nameArb, (name) => {
        expect(isReference(`{{${name}}}`)).toBe(false);
      }),
    );
  });

  it('handles unicode names and keys, and braces inside them', () => {
    expect(parseReference('{{données.clé_🔑}}')).toEqual({ name: 'données', key: 'clé_🔑' });
    expect(parseReference('{{a}.b{}}')).toEqual({ name: 'a}', key: 'b{' });
    expect(parseReference('{{a.b}}}')).toEqual({ name: 'a', key: 'b}' });
    expect(parseReference('{{.k}}')).toBeNull();
    expect(parseReference('{{n.}}')).toBeNull();
    expect(isReference(42)).toBe(false);
  });

  it('collects every reference of a config once', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(nameArb, keyArb), { maxLength: 6 }), (pairs) => {
        const config = Object.fromEntries(
          pairs.flatMap(([n, k], i) => [
            [`a${i}`, `{{${n}.${k}}}`],
            [`b${i}`, `{{${n}.${k}}}`],
            [`c${i}`, `${n}.${k}`],
          ]),
        );
        const want = new Set(pairs.map(([n, k]) => `{{${n}.${k}}}`));
        expect(new Set(collectReferences(config).map(formatReference))).toEqual(want);
        expect(collectReferences(config)).toHaveLength(want.size);
      }),
    );
  });
});

describe('reference resolution', () => {
  let ks: Keystack;
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- ks is unset when beforeEach failed
  afterEach(async () => ks?.close());

  function setup(): Keystack {
    ks = new Keystack({ configDir: mkdtempSync(join(tmpdir(), 'keystack-ref-')), env: {} });
    updateComponent(ks, 'artifact_store', 'default', { encryption_key: '{{art.key}}', path: join(ks.configDir, 'a') });
    return ks;
  }

  it('fails with no secrets manager, naming the reference, the field and the stack', async () => {
    setup();
    ks.updateStack('default', { secrets_manager: null });
    const stack = await StackRuntime.load(ks);
    const err = await stack.artifactStore.get('encryption_key').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretReferenceError);
    expect((err as Error).message).toContain('{{art.key}}');
    expect((err as Error).message).toContain("field 'encryption_key' of artifact-store 'default'");
    expect((err as Error).message).toContain("stack 'default' has no secrets manager");
  });

  it('fails for a missing secret and a missing key, then resolves once the key exists', async () => {
    setup();
    const missing = await (await StackRuntime.load(ks)).artifactStore.get('encryption_key').catch((e: unknown) => e);
    expect((missing as SecretReferenceError).problem).toBe('missing_secret');
    expect((missing as Error).message).toMatch(/\{\{art\.key\}\}.*secret 'art' does not exist/);
    expect((missing as SecretReferenceError).hint).toContain('keystack stack register-secrets default');

    const sm = await ks.secretsManager();
    await sm.register('art', { other: 'x' });
    const noKey = await (await StackRuntime.load(ks)).artifactStore.get('encryption_key').catch((e: unknown) => e);
    expect((noKey as SecretReferenceError).problem).toBe('missing_key');
    expect((noKey as Error).message).toContain('{{art.key}}');
    expect((noKey as Error).message).toContain("secret 'art' has no key 'key' (its keys: other)");

    await sm.update('art', { other: 'x', key: 'k3y-value' });
    expect(await (await StackRuntime.load(ks)).artifactStore.get('encryption_key')).toBe('k3y-value');
  });

  it("says, in the error that refuses it, that a secret whose name contains '.' cannot be referenced", async () => {
    setup();
    updateComponent(ks, 'artifact_store', 'default', { encryption_key: '{{db.v1.key}}' });
    const err = await (await StackRuntime.load(ks)).artifactStore.get('encryption_key').catch((e: unknown) => e);
    expect((err as SecretReferenceError).problem).toBe('missing_secret');
    expect((err as Error).message).toContain("secret 'db' does not exist");
    expect((err as Error).message).toContain(
      "so a secret whose name contains '.' (such as 'db.v1') cannot be used in {{name.key}} references",
    );
    expect((err as SecretReferenceError).hint).toContain("Register the secret again under a name without '.'");
    const invalid = await assertStackValid(ks).catch((e: unknown) => e);
    expect((invalid as Error).message).toContain(
      "{{db.v1.key}} (no secret 'db'; the secret name of a reference ends at its first '.'",
    );
    expect((invalid as KeystackError).hint).toContain("under a name without '.'");
  });

  it('fetches each secret at most once per run, also for context reads', async () => {
    setup();
    registerComponent(ks, { type: 'container_registry', name: 'r', flavor: 'default', config: { uri: 'r.example' } });
    updateComponent(ks, 'artifact_store', 'default', { path: join(ks.configDir, 'x') });
    const sm = await ks.secretsManager();
    await sm.register('art', { key: 'k1', other: 'k2' });
    const stack = await StackRuntime.load(ks);
    await Promise.all([stack.artifactStore.get('encryption_key'), stack.artifactStore.get('encryption_key')]);
    await stack.secretsManager.get('art');
    expect((await stack.secretsManager.get('art')).values).toEqual({ key: 'k1', other: 'k2' });
    expect(stack.resolver.fetches).toBe(1);
    // A write through the run's manager drops the cached copy.
    await stack.secretsManager.update('art', { key: 'k9-new' });
    expect((await stack.secretsManager.get('art')).values).toEqual({ key: 'k9-new' });
    expect(stack.resolver.fetches).toBe(2);
    expect(stack.resolver.mask('a k9-new and k2 and k1')).toBe('a *** and k2 and k1');
  });

  it('never resolves when serializing, and stores the reference text', async () => {
    setup();
    const stack = await StackRuntime.load(ks);
    const text = JSON.stringify(stack.artifactStore);
    expect(text).toContain('{{art.key}}');
    expect(stack.resolver.fetches).toBe(0);
    expect(ks.store.getComponent('artifact_store', 'default').config['encryption_key']).toBe('{{art.key}}');
    expect(stack.requiredSecrets()).toEqual([{ name: 'art', key: 'key' }]);
  });

  it('rejects references in names, in non-string fields and in fields that forbid them, and warns on plain sensitive values', () => {
    ks = new Keystack({ configDir: mkdtempSync(join(tmpdir(), 'keystack-ref-')), env: {} });
    expect(() => registerComponent(ks, { type: 'orchestrator', name: '{{a.b}}', flavor: 'local' })).toThrow(
      /cannot be a secret reference/,
    );
    expect(() =>
      registerComponent(ks, {
        type: 'orchestrator',
        name: 'p',
        flavor: 'local_process',
        config: { timeout_seconds: '{{a.b}}' },
      }),
    ).toThrow(/cannot be a secret reference/);
    expect(() =>
      registerComponent(ks, { type: 'artifact_store', name: 's', flavor: 'local', config: { path: '{{a.b}}' } }),
    ).toThrow(/'path'.*cannot be a secret reference/);
    const plain = registerComponent(ks, {
      type: 'artifact_store',
      name: 's',
      flavor: 'local',
      config: { encryption_key: 'hunter2' },
    });
    expect(plain.warnings.join()).toMatch(
      /plain-text value for the sensitive field 'encryption_key'.*\{\{NAME\.encryption_key\}\}/,
    );
    expect(plain.warnings.join()).not.toContain('hunter2');
    expect(
      registerComponent(ks, {
        type: 'artifact_store',
        name: 't',
        flavor: 'local',
        config: { encryption_key: '{{s.k}}' },
      }).warnings,
    ).toEqual([]);
  });
});
