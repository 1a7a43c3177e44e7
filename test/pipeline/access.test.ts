import { createHmac } from 'node:crypto';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CollectingSink, fingerprint, memoFingerprint } from '../../src/core/provenance.js';
import { ConfigError, SecretAccessDeniedError, SecretNotFoundError } from '../../src/errors.js';
import { allowedKeys, parseDeclaration, SecretGuard, type VersionedSecret } from '../../src/pipeline/access.js';
import { splitPin } from '../../src/secrets/pins.js';
import { loadProvenanceKey } from '../../src/stack/provenance-key.js';

const KEY = Buffer.alloc(32, 7);
const DB: VersionedSecret = {
  secret: { name: 'db', schema: 'basic', values: { username: 'admin', password: 'hunter2-hunter2' } },
  version: '4',
};

function guard(option: unknown, store: Record<string, VersionedSecret> = { db: DB }, hmacs: string[] = []) {
  const sink = new CollectingSink();
  const reads: { name: string; version: string | undefined; fresh: boolean }[] = [];
  const g = new SecretGuard({
    reader: {
      runId: 'r1',
      pipeline: 'p',
      step: 'train',
      component: undefined,
      attempt: 1,
      worker: undefined,
      host: 'h',
    },
    declaration: parseDeclaration('train', option),
    manager: { uuid: 'u', name: 'm', flavor: 'local' },
    read: async (name, o) => {
      reads.push({ name, ...o });
      if (name === 'broken') throw new ConfigError('boom');
      return store[name] ?? null;
    },
    fingerprint: (v) => {
      hmacs.push(v);
      return fingerprint(KEY, v);
    },
    sink,
    where: "manager 'm'",
  });
  return { g, sink, reads };
}

describe('version pins', () => {
  it('takes the text after the last @ only when it is a version token', () => {
    expect(splitPin('db@3')).toEqual({ name: 'db', version: '3' });
    expect(splitPin('db@previous')).toEqual({ name: 'db', version: 'previous' });
    expect(splitPin('a@b@current')).toEqual({ name: 'a@b', version: 'current' });
    expect(splitPin('db@0123456789abcdef0123456789ABCDEF').version).toBe('0123456789abcdef0123456789ABCDEF');
    expect(splitPin('me@example.com')).toEqual({ name: 'me@example.com', version: undefined });
    expect(splitPin('@3')).toEqual({ name: '@3', version: undefined });
    expect(splitPin('db')).toEqual({ name: 'db', version: undefined });
  });
});

describe('step declarations', () => {
  it('reads names, name.key and pins; no option declares nothing; * declares all', () => {
    expect(parseDeclaration('s', undefined)).toEqual({ all: false, entries: [] });
    expect(parseDeclaration('s', '*')).toEqual({ all: true });
    const d = parseDeclaration('s', ['db', 'api.token', 'old@3.key.with.dots']);
    expect(d).toEqual({
      all: false,
      entries: [
        { name: 'db', key: undefined, version: undefined },
        { name: 'api', key: 'token', version: undefined },
        { name: 'old', key: 'key.with.dots', version: '3' },
      ],
    });
    expect(allowedKeys(d, 'db')).toBe('all');
    expect(allowedKeys(d, 'api')).toEqual(['token']);
    expect(allowedKeys(d, 'other')).toBeNull();
  });

  it('refuses anything else, naming the option', () => {
    for (const bad of ['db', [1], [''], {}, 'all']) {
      expect(() => parseDeclaration('s', bad)).toThrow(/step 's': `secrets` must be/);
    }
  });
});

describe('the step guard', () => {
  it('denies an undeclared secret, records the denial and never reads it', async () => {
    const { g, sink, reads } = guard(['other']);
    const e = await g.get('db').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SecretAccessDeniedError);
    expect((e as SecretAccessDeniedError).code).toBe('denied');
    expect((e as SecretAccessDeniedError).hint).toContain('secrets:');
    expect(reads).toEqual([]);
    expect(sink.drain()).toMatchObject([{ secret: 'db', outcome: 'denied', keys: [], fingerprints: {} }]);
  });

  it('a step without secrets may read nothing', async () => {
    await expect(guard(undefined).g.get('db')).rejects.toBeInstanceOf(SecretAccessDeniedError);
  });

  it('returns only the declared keys, with keyed fingerprints and the version on record', async () => {
    const { g, sink } = guard(['db.password']);
    const s = await g.get('db');
    expect(s.values).toEqual({ password: 'hunter2-hunter2' });
    const [r] = sink.drain();
    expect(r).toMatchObject({ outcome: 'read', keys: ['password'], version: '4', step: 'train', runId: 'r1' });
    expect(r?.fingerprints['password']).toBe(fingerprint(KEY, 'hunter2-hunter2'));
    expect(JSON.stringify(r)).not.toContain('hunter2');
  });

  it('passes a declared pin and fresh to the reader', async () => {
    const { g, reads } = guard(['db@3']);
    await g.get('db', { fresh: true });
    expect(reads).toEqual([{ name: 'db', version: '3', fresh: true }]);
  });

  it('fingerprints a value once per guard; a changed value, or one of another key, gets its own', async () => {
    const store: Record<string, VersionedSecret> = { db: DB };
    const hmacs: string[] = [];
    const { g, sink } = guard('*', store, hmacs);
    await g.get('db');
    await g.get('db');
    expect(hmacs.sort()).toEqual(['admin', 'hunter2-hunter2']);
    store['db'] = { ...DB, secret: { ...DB.secret, values: { username: 'admin', password: 'rotated-rotated' } } };
    await g.get('db');
    const records = sink.drain();
    expect(records).toHaveLength(3);
    expect(records.map((r) => r.fingerprints)).toEqual([
      { username: fingerprint(KEY, 'admin'), password: fingerprint(KEY, 'hunter2-hunter2') },
      { username: fingerprint(KEY, 'admin'), password: fingerprint(KEY, 'hunter2-hunter2') },
      { username: fingerprint(KEY, 'admin'), password: fingerprint(KEY, 'rotated-rotated') },
    ]);
    expect(hmacs).toHaveLength(3);
    // Another step attempt's guard starts with nothing remembered.
    const again: string[] = [];
    await guard('*', store, again).g.get('db');
    expect(again.sort()).toEqual(['admin', 'rotated-rotated']);
  });

  it('records not_found and error outcomes', async () => {
    const { g, sink } = guard('*');
    await expect(g.get('missing')).rejects.toBeInstanceOf(SecretNotFoundError);
    await expect(g.get('broken')).rejects.toBeInstanceOf(ConfigError);
    expect(sink.drain().map((r) => [r.secret, r.outcome, r.errorCode])).toEqual([
      ['missing', 'not_found', null],
      ['broken', 'error', 'config'],
    ]);
  });
});

describe('fingerprint', () => {
  it('is HMAC-SHA256 of the UTF-8 value under the key, hex, for each key it is given', () => {
    const other = Buffer.alloc(32, 9);
    for (const k of [KEY, other, KEY, other])
      for (const v of ['hunter2', 'häßlich-ü', ''])
        expect(fingerprint(k, v)).toBe(
          createHmac('sha256', Buffer.from(k)).update(Buffer.from(v, 'utf8')).digest('hex'),
        );
    expect(fingerprint(KEY, 'x')).not.toBe(fingerprint(other, 'x'));
  });
});

describe('memoFingerprint', () => {
  it('answers as the function it wraps, calling it once per distinct value', () => {
    const calls: string[] = [];
    const fp = memoFingerprint((v) => {
      calls.push(v);
      return fingerprint(KEY, v);
    });
    const values = ['a', 'b', 'a', 'A', 'a ', 'b', ''];
    expect(values.map(fp)).toEqual(values.map((v) => fingerprint(KEY, v)));
    expect(new Set(['a', 'b', 'A', 'a ', ''].map(fp)).size).toBe(5);
    expect(calls).toEqual(['a', 'b', 'A', 'a ', '']);
  });

  it('keeps at most limit values, then starts over', () => {
    const calls: string[] = [];
    const fp = memoFingerprint((v) => {
      calls.push(v);
      return `f(${v})`;
    }, 2);
    for (const v of ['x', 'y', 'x', 'z', 'x', 'z']) fp(v);
    // x and y filled it; z started it over, so x is computed again, then remembered with z.
    expect(calls).toEqual(['x', 'y', 'z', 'x']);
  });
});

describe('the provenance key', () => {
  it('is created once, 0600, and the same on the next load', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ks-pk-')), 'cfg');
    const a = loadProvenanceKey(dir, {});
    expect(a).toHaveLength(32);
    expect(statSync(join(dir, 'provenance.key')).mode & 0o777).toBe(0o600);
    expect(loadProvenanceKey(dir, {}).equals(a)).toBe(true);
  });

  it('comes from KEYSTACK_PROVENANCE_KEY when set, so that two machines match', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ks-pk-'));
    const k = Buffer.alloc(32, 9);
    expect(loadProvenanceKey(dir, { KEYSTACK_PROVENANCE_KEY: k.toString('base64') }).equals(k)).toBe(true);
    expect(() => loadProvenanceKey(dir, { KEYSTACK_PROVENANCE_KEY: 'c2hvcnQ=' })).toThrow(/base64 of 32 bytes/);
  });

  it('refuses a damaged key file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ks-pk-'));
    writeFileSync(join(dir, 'provenance.key'), 'short', { mode: 0o600 });
    expect(() => loadProvenanceKey(dir, {})).toThrow(/damaged/);
  });
});
