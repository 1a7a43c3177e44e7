/** LeakGuard itself: where it looks, what it names, what it allows, and when it rebuilds its matcher. */
import { describe, expect, it } from 'vitest';
import { SecretLeakError } from '../../src/errors.js';
import { tryEncodeArtifact } from '../../src/pipeline/artifact-store.js';
import { LeakGuard, leakGuardFor } from '../../src/pipeline/leak-guard.js';
import { ReferenceResolver } from '../../src/stack/references.js';
import type { DeliveredValue } from '../../src/stack/references.js';

const PASSWORD = 'correct-horse-battery';
const USER = 'service-account-7';

function source(values: DeliveredValue[]) {
  return { delivered: () => values, deliveredCount: values.length };
}
const base: DeliveredValue[] = [
  { secret: 'db', key: 'password', value: PASSWORD },
  { secret: 'db', key: 'user', value: USER },
  { secret: 'acct', key: 'number', value: '4111222233334444' },
];
const where = (e: SecretLeakError | undefined) => e && [e.where, e.secretName, e.key, e.encoding];

describe('LeakGuard', () => {
  const guard = new LeakGuard(source(base));

  it('names the field path, array index and object key a value is in', () => {
    expect(where(guard.check({ stepName: 's', output: { a: { b: [1, `x${PASSWORD}y`] } } }))).toEqual([
      'output at $.a.b[1]',
      'db',
      'password',
      'raw',
    ]);
    expect(where(guard.check({ stepName: 's', output: { 'odd-key': { [USER]: 1 } } }))).toEqual([
      'output at $["odd-key"]["service-account-7"] (its name)',
      'db',
      'user',
      'raw',
    ]);
    expect(where(guard.check({ stepName: 's', output: Buffer.from(PASSWORD).toString('hex') }))).toEqual([
      'output',
      'db',
      'password',
      'hex',
    ]);
    // A numeric secret returned as a number.
    expect(where(guard.check({ stepName: 's', output: { n: 4111222233334444 } }))?.[1]).toBe('acct');
  });

  it('scans binary values as bytes: Buffer, typed arrays, ArrayBuffer, and their JSON forms from a step child', () => {
    const bytes = Buffer.concat([Buffer.from([0, 1, 2, 250]), Buffer.from(PASSWORD), Buffer.from([9, 9])]);
    const forms: unknown[] = [
      bytes,
      new Uint8Array(bytes),
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
      JSON.parse(JSON.stringify(bytes)) as unknown,
      JSON.parse(JSON.stringify(new Uint8Array(bytes))) as unknown,
    ];
    for (const f of forms) expect(where(guard.check({ stepName: 's', output: { w: f } }))?.[0]).toBe('output at $.w');
    // Bytes that are not a value's are not a hit.
    expect(guard.check({ stepName: 's', output: { w: Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9]) } })).toBeUndefined();
  });

  it('finds no value split across two fields', () => {
    expect(guard.check({ stepName: 's', output: [PASSWORD.slice(0, 10), PASSWORD.slice(10)] })).toBeUndefined();
  });

  it('checks parameters and the error text, which allowSecretOutputs does not cover', () => {
    const allow = ['db'];
    expect(where(guard.check({ stepName: 's', params: { cfg: { p: PASSWORD } }, allowSecretOutputs: allow }))).toEqual([
      "parameter 'cfg' at $.p",
      'db',
      'password',
      'raw',
    ]);
    expect(
      where(guard.check({ stepName: 's', error: `Error: ${encodeURIComponent(PASSWORD)}`, allowSecretOutputs: allow })),
    ).toEqual(['error', 'db', 'password', 'raw']);
  });

  it('allowSecretOutputs allows exactly what it names: a key, or every key of a secret', () => {
    const out = { p: PASSWORD, u: USER };
    expect(where(guard.check({ stepName: 's', output: out, allowSecretOutputs: ['db.password'] }))).toEqual([
      'output at $.u',
      'db',
      'user',
      'raw',
    ]);
    expect(guard.check({ stepName: 's', output: out, allowSecretOutputs: ['db'] })).toBeUndefined();
    expect(guard.check({ stepName: 's', output: out, allowSecretOutputs: ['db.user', 'db.password'] })).toBeUndefined();
    expect(guard.check({ stepName: 's', output: out, allowSecretOutputs: ['dbx', 'db.pass'] })).toBeInstanceOf(
      SecretLeakError,
    );
  });

  it('leaves values under the minimum out', () => {
    const short = source([{ secret: 'pin', key: 'code', value: '1234567' }]);
    expect(new LeakGuard(short).check({ stepName: 's', output: '1234567' })).toBeUndefined();
    expect(new LeakGuard(short, 7).check({ stepName: 's', output: '1234567' })?.secretName).toBe('pin');
  });

  it("rebuilds its matcher only when the run's resolver delivered new values", () => {
    const resolver = new ReferenceResolver({ manager: undefined, stackName: 't' });
    const g = leakGuardFor(resolver);
    expect(leakGuardFor(resolver)).toBe(g);
    expect(g.check({ stepName: 's', output: PASSWORD })).toBeUndefined();
    resolver.deliver('db', { password: PASSWORD });
    expect(g.check({ stepName: 's', output: PASSWORD })?.key).toBe('password');
    const builds = g.stats.builds;
    resolver.deliver('db', { password: PASSWORD });
    g.check({ stepName: 's', output: 'x' });
    expect(g.stats.builds).toBe(builds);
    // A changed value is one more: the old one stays guarded.
    resolver.deliver('db', { password: `${PASSWORD}-2` });
    expect(g.check({ stepName: 's', output: `>${PASSWORD}<` })?.key).toBe('password');
    expect(g.stats.builds).toBe(builds + 1);
  });
});

describe('LeakGuard given the bytes the store will write', () => {
  const guard = new LeakGuard(source(base));
  const stored = (output: unknown) => tryEncodeArtifact(output)?.json;
  const bytes = Buffer.concat([Buffer.from([0, 1, 2, 250]), Buffer.from(PASSWORD), Buffer.from([9, 9])]);
  const outputs: [string, unknown][] = [
    ['a nested field', { a: { b: [1, `x${PASSWORD}y`] } }],
    ['an object key', { 'odd-key': { [USER]: 1 } }],
    ['hex', Buffer.from(PASSWORD).toString('hex')],
    ['a number', { n: 4111222233334444 }],
    ['a quote in the value, JSON-escaped in the bytes', { q: `a"${PASSWORD}` }],
    ['JSON inside JSON', { cfg: JSON.stringify({ p: `"${PASSWORD}"` }) }],
    ['base64url in a list', [1, 2, Buffer.from(PASSWORD).toString('base64url')]],
    ['a Buffer', { w: bytes }],
    ['a typed array', { w: new Uint8Array(bytes) }],
    ['an ArrayBuffer', { w: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) }],
    ["a Buffer's JSON form", { w: JSON.parse(JSON.stringify(bytes)) as unknown }],
    ["a typed array's JSON form", { w: JSON.parse(JSON.stringify(new Uint8Array(bytes))) as unknown }],
    ['nothing', { loss: 0.25, tag: 'run-7', note: 'checkpoint saved' }],
    ['a value split across two fields', [PASSWORD.slice(0, 10), PASSWORD.slice(10)]],
  ];
  it.each(outputs)('finds what the field-by-field walk finds, and names it alike: %s', (_, output) => {
    const bytesOf = stored(output);
    expect(bytesOf).toBeInstanceOf(Buffer);
    expect(where(guard.check({ stepName: 's', output, stored: bytesOf }))).toEqual(
      where(guard.check({ stepName: 's', output })),
    );
  });

  it('each case above that holds a value is found', () => {
    const found = outputs.filter(([, output]) => guard.check({ stepName: 's', output, stored: stored(output) }));
    expect(found.map(([name]) => name)).toEqual(outputs.slice(0, -2).map(([name]) => name));
  });

  it('finds a value that only the stored form holds (a toJSON), and names no field then', () => {
    const output = { model: { toJSON: () => ({ token: PASSWORD }) } };
    expect(where(guard.check({ stepName: 's', output, stored: stored(output) }))).toEqual([
      'output',
      'db',
      'password',
      'raw',
    ]);
  });

  it("takes no value with a quote for a leak where JSON's own punctuation lines up with it", () => {
    const quoted = new LeakGuard(source([{ secret: 'q', key: 'k', value: 'left-half","right-half' }]));
    const output = ['x-left-half', 'right-half-y'];
    expect(stored(output)?.toString()).toContain('left-half","right-half');
    expect(quoted.check({ stepName: 's', output, stored: stored(output) })).toBeUndefined();
    // The value itself, in one field, is still found (as its JSON-escaped form in the bytes).
    const one = { f: 'left-half","right-half' };
    expect(where(quoted.check({ stepName: 's', output: one, stored: stored(one) }))).toEqual([
      'output at $.f',
      'q',
      'k',
      'raw',
    ]);
  });

  it('falls back to the walk for an output JSON cannot hold (a cycle)', () => {
    const output: Record<string, unknown> = { p: PASSWORD };
    output['self'] = output;
    expect(stored(output)).toBeUndefined();
    expect(where(guard.check({ stepName: 's', output, stored: stored(output) }))?.[0]).toBe('output at $.p');
  });

  it('allowSecretOutputs allows exactly what it names in the stored bytes too', () => {
    const out = { p: PASSWORD, u: USER };
    const b = stored(out);
    expect(
      where(guard.check({ stepName: 's', output: out, stored: b, allowSecretOutputs: ['db.password'] }))?.[0],
    ).toBe('output at $.u');
    expect(guard.check({ stepName: 's', output: out, stored: b, allowSecretOutputs: ['db'] })).toBeUndefined();
  });
});
