/**
 * The pieces of remote trust that need no server: signed messages and keys, job envelopes and
 * step results, the worker's allow-list and location pinning, its nonce record, and the artifact
 * URI rules. test/remote/forged-jobs.test.ts attacks the whole path on real Redis.
 */
import { describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  canonicalJson,
  keyring,
  loadOrCreateSigningKey,
  parsePublicKey,
  parsePublicKeys,
  signMessage,
  verifyMessage,
} from '../../src/support/signing.js';
import {
  checkSnapshot,
  isRunUri,
  JOB_DOMAIN,
  openJob,
  MAX_SEALED_COPY_CHARS,
  openResult,
  parseStepJob,
  signJob,
  signResult,
  snapshotHash,
  type JobEnvelope,
} from '../../src/pipeline/remote/envelope.js';
import {
  addTrusted,
  ownKey,
  removeTrusted,
  trustedKeys,
  TrustedKeys,
  trustListFile,
} from '../../src/pipeline/remote/keys.js';
import { openNonceRecord } from '../../src/pipeline/remote/nonces.js';
import { checkJobStack, parseAllowSpec, type PinningPolicy } from '../../src/pipeline/remote/pinning.js';
import type { StackSnapshot } from '../../src/pipeline/remote/snapshot.js';
import { checkArtifactUri, decodeArtifact } from '../../src/pipeline/artifact-store.js';
import type { ComponentRecord } from '../../src/stack/config-store.js';

const dir = () => mkdtempSync(join(tmpdir(), 'ks-trust-'));
const RUN = '0b6f1b2e-6a43-4c0e-9a55-0d6c1f3e2a10';
const OTHER_RUN = '7d1e2f3a-1111-4c0e-9a55-0d6c1f3e2a10';

const snapshot = (
  over: {
    manager?: Record<string, unknown>;
    managerFlavor?: string;
    store?: Record<string, unknown>;
    storeFlavor?: string;
    orchestrator?: string;
  } = {},
): StackSnapshot => ({
  name: 'remote',
  components: [
    {
      uuid: 'o-1',
      type: 'orchestrator',
      flavor: over.orchestrator ?? 'bullmq',
      name: 'bq',
      config: { redis_url: '{{redis.url}}' },
    },
    {
      uuid: 'm-1',
      type: 'secrets_manager',
      flavor: over.managerFlavor ?? 'vault',
      name: 'vault',
      config: over.manager ?? { url: 'http://127.0.0.1:8200', mount_point: 'secret', scope: 'global' },
    },
    {
      uuid: 'a-1',
      type: 'artifact_store',
      flavor: over.storeFlavor ?? 's3',
      name: 'bucket',
      config: over.store ?? { path: 's3://bkt/runs', endpoint_url: 'http://127.0.0.1:4566', region: 'us-east-1' },
    },
  ],
});

function envelope(over: Partial<JobEnvelope> = {}, snap: StackSnapshot = snapshot()): JobEnvelope {
  return {
    runId: RUN,
    pipeline: 'p',
    snapshotHash: snapshotHash(snap),
    module: { path: 'p.mjs', exportName: 'default', sha256: 'ab'.repeat(32) },
    step: { id: 'train', name: 'train', params: {} },
    inputs: { xs: `${RUN}/load.json` },
    queue: 'keystack',
    attempts: 2,
    deadline: Date.now() + 60_000,
    noCache: false,
    ...over,
  };
}

describe('signed messages', () => {
  const key = loadOrCreateSigningKey(join(dir(), 'k.ed25519'));
  const ring = keyring([parsePublicKey(key.text, 'test')]);

  it('verify only what the trusted key signed, for the domain it signed it for', () => {
    const m = signMessage(key, JOB_DOMAIN, { b: 1, a: [2, { d: 3, c: 4 }] });
    const ok = verifyMessage(m, JOB_DOMAIN, ring);
    expect(ok.ok && ok.payload).toEqual({ a: [2, { c: 4, d: 3 }], b: 1 });
    expect(verifyMessage({ ...m, p: m.p.replace('1', '2') }, JOB_DOMAIN, ring)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('does not match'),
    });
    expect(verifyMessage(m, 'step-result/v1', ring)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('does not match'),
    });
    const stranger = loadOrCreateSigningKey(join(dir(), 's.ed25519'));
    expect(verifyMessage(signMessage(stranger, JOB_DOMAIN, { b: 1 }), JOB_DOMAIN, ring)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('not trusted'),
    });
    // A stranger's signature under the trusted key's id.
    expect(
      verifyMessage({ ...signMessage(stranger, JOB_DOMAIN, { b: 1 }), k: key.id }, JOB_DOMAIN, ring),
    ).toMatchObject({ ok: false });
    for (const junk of [null, 'x', {}, { p: 1, k: key.id, s: 'x' }, { p: '{}', k: key.id, s: '!!' }])
      expect(verifyMessage(junk, JOB_DOMAIN, ring).ok).toBe(false);
  });

  it('canonical JSON does not depend on key order', () => {
    expect(canonicalJson({ b: 1, a: { y: 1, x: 2 } })).toBe(canonicalJson({ a: { x: 2, y: 1 }, b: 1 }));
  });

  it('a key file is created once, 0600 in a 0700 directory, and a damaged one is an error, never replaced', () => {
    const d = join(dir(), 'keys');
    const a = ownKey(d, 'client');
    const b = ownKey(d, 'client');
    expect(b.id).toBe(a.id);
    expect(statSync(a.file).mode & 0o777).toBe(0o600);
    expect(statSync(join(d, 'keys')).mode & 0o777).toBe(0o700);
    writeFileSync(a.file, 'not a key', { mode: 0o600 });
    expect(() => ownKey(d, 'client')).toThrow(/is damaged/);
    expect(readFileSync(a.file, 'utf8')).toBe('not a key');
  });

  it('public keys: one line each, errors name where a bad one came from', () => {
    const key2 = loadOrCreateSigningKey(join(dir(), 'k2.ed25519'));
    expect(parsePublicKeys(`# comment\n${key.text}, ${key2.text}\n\n`, 'x').map((k) => k.id)).toEqual([
      key.id,
      key2.id,
    ]);
    expect(() => parsePublicKey('ssh-ed25519 AAAA', 'KEYSTACK_WORKER_TRUSTED_KEYS')).toThrow(
      /KEYSTACK_WORKER_TRUSTED_KEYS does not hold a keystack public key/,
    );
    expect(() => parsePublicKey(`${key.text}A`, 'f')).toThrow(/does not hold/);
  });
});

describe('trust lists', () => {
  it('add, list, remove; sources combine; a list others can write is refused', () => {
    const d = dir();
    const w = ownKey(join(dir(), 'w'), 'worker');
    expect(addTrusted(d, 'worker', w, 'gpu-box')).toBe(true);
    expect(addTrusted(d, 'worker', w, 'gpu-box')).toBe(false);
    const extra = ownKey(join(dir(), 'x'), 'worker');
    const file = join(dir(), 'extra.pub');
    writeFileSync(file, `${extra.text}\n`, { mode: 0o600 });
    const env = ownKey(join(dir(), 'e'), 'worker');
    expect(
      [
        ...trustedKeys('worker', {
          configDir: d,
          files: [file],
          env: { KEYSTACK_TRUSTED_WORKER_KEYS: env.text },
        }).keys(),
      ].sort(),
    ).toEqual([w.id, extra.id, env.id].sort());
    // Client keys on a worker come from the other list and the other variable.
    expect(trustedKeys('client', { configDir: d, env: { KEYSTACK_TRUSTED_WORKER_KEYS: env.text } }).size).toBe(0);
    chmodSync(trustListFile(d, 'worker'), 0o666);
    expect(() => trustedKeys('worker', { configDir: d, env: {} })).toThrow(
      /refusing to use .*trusted-workers: it is writable by group and others/,
    );
    chmodSync(trustListFile(d, 'worker'), 0o600);
    expect(removeTrusted(d, 'worker', 'gpu-box')).toBe(true);
    expect(trustedKeys('worker', { configDir: d, env: {} }).size).toBe(0);
  });

  it('a key trusted after start is picked up when a message signed by it arrives', () => {
    const d = dir();
    const t = new TrustedKeys('worker', { configDir: d, env: {} });
    const w = ownKey(join(dir(), 'w'), 'worker');
    expect(t.refreshFor(w.id)).toBe(false);
    addTrusted(d, 'worker', w, undefined);
    expect(t.refreshFor(w.id)).toBe(true);
  });
});

describe('job envelopes', () => {
  const client = loadOrCreateSigningKey(join(dir(), 'c.ed25519'));
  const ring = keyring([parsePublicKey(client.text, 'test')]);
  const snap = snapshot();

  it('a signed, current envelope with its own snapshot opens', () => {
    const e = envelope();
    expect(openJob(signJob(client, e), ring).envelope).toEqual(e);
    expect(checkSnapshot(e, structuredClone(snap))).toEqual(snap);
  });

  it('expired, another snapshot, an input outside the run: refused, quoting nothing of the job', () => {
    const cases: [JobEnvelope, StackSnapshot, RegExp][] = [
      [envelope({ deadline: Date.now() - 1 }), snap, /run deadline has passed/],
      [envelope(), snapshot({ manager: { url: 'http://127.0.0.1:9/attacker' } }), /not the one the client signed/],
      [envelope({ inputs: { xs: '../private.json' } }), snap, /input URI lies outside the run/],
      [envelope({ inputs: { xs: `${OTHER_RUN}/load.json` } }), snap, /input URI lies outside the run/],
    ];
    for (const [e, s, why] of cases) {
      let err: Error | undefined;
      try {
        checkSnapshot(openJob(signJob(client, e), ring).envelope, s);
      } catch (x) {
        err = x as Error;
      }
      expect(err?.message).toMatch(why);
      expect(err?.message).not.toMatch(/attacker|private|127\.0\.0\.1/);
    }
  });

  it('payloads of another shape are refused before their signature is even read', () => {
    expect(() => parseStepJob({ v: 1, runId: RUN, step: { id: 'x' } })).toThrow(
      /not a keystack step job of payload version 2/,
    );
    expect(() => parseStepJob('x')).toThrow(/refused a step job/);
  });

  it('sealed copies of inputs beside the envelope are kept only when well-formed and of this run', () => {
    const base = { v: 2, runId: RUN, stepId: 'train', job: signJob(client, envelope()), stack: snap };
    const good = { [`${RUN}/load.json`]: 'S1NBMg==' };
    expect(parseStepJob({ ...base, sealedInputs: good }).sealedInputs).toEqual(good);
    // Not signed, so not a reason to refuse the job: a malformed set is dropped whole and the
    // inputs are read from the store.
    for (const bad of [
      { [`${OTHER_RUN}/load.json`]: 'S1NBMg==' },
      { '../load.json': 'S1NBMg==' },
      { [`${RUN}/load.json`]: 42 },
      { [`${RUN}/load.json`]: 'x'.repeat(MAX_SEALED_COPY_CHARS + 1) },
      ['S1NBMg=='],
      'S1NBMg==',
    ]) {
      const parsed = parseStepJob({ ...base, sealedInputs: bad });
      expect(parsed.sealedInputs).toBeUndefined();
      expect(parsed.job).toBe(base.job);
    }
  });
});

describe('step results', () => {
  const worker = loadOrCreateSigningKey(join(dir(), 'w.ed25519'));
  const ring = keyring([parsePublicKey(worker.text, 'test')]);
  const result = {
    runId: RUN,
    stepId: 'train',
    status: 'completed' as const,
    worker: 'w1',
    attempts: 1,
    output: { uri: `${RUN}/train.json`, hash: 'h' },
    // A result of an attempt that ended counts its provenance records (remote-provenance.test.ts).
    recordCount: 0,
  };

  it('open only for the run and step they were signed for, with outputs inside the run', () => {
    expect(openResult(signResult(worker, result), RUN, 'train', ring)).toMatchObject({
      ok: true,
      result: { worker: 'w1' },
    });
    expect(openResult(signResult(worker, result), RUN, 'evaluate', ring)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('another run or step'),
    });
    expect(openResult(signResult(worker, result), OTHER_RUN, 'train', ring)).toMatchObject({ ok: false });
    expect(
      openResult(signResult(worker, { ...result, output: { uri: '../../etc/passwd', hash: 'h' } }), RUN, 'train', ring),
    ).toMatchObject({ ok: false, reason: expect.stringContaining('outside the run') });
    expect(openResult({ p: JSON.stringify(result) }, RUN, 'train', ring)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('not signed'),
    });
  });

  it('carry a sealed output only as a string beside an output', () => {
    expect(openResult(signResult(worker, { ...result, sealedOutput: 'S1NBMg==' }), RUN, 'train', ring)).toMatchObject({
      ok: true,
      result: { sealedOutput: 'S1NBMg==' },
    });
    const { output: _, ...noOutput } = result;
    for (const bad of [
      { ...result, sealedOutput: 42 },
      { ...result, sealedOutput: 'x'.repeat(MAX_SEALED_COPY_CHARS + 1) },
      { ...noOutput, sealedOutput: 'S1NBMg==' },
    ]) {
      expect(openResult(signResult(worker, bad as typeof result), RUN, 'train', ring)).toMatchObject({
        ok: false,
        reason: expect.stringContaining('sealed output is malformed'),
      });
    }
  });

  it('run URIs are RUN/STEP.json and nothing else', () => {
    expect(isRunUri(RUN, `${RUN}/train.json`)).toBe(true);
    for (const bad of [
      `${RUN}/../x.json`,
      `${RUN}/a/b.json`,
      `/${RUN}/a.json`,
      `${OTHER_RUN}/a.json`,
      `${RUN}/.json`,
      `${RUN}/a.json/..`,
      5,
    ])
      expect(isRunUri(RUN, bad)).toBe(false);
  });
});

describe('where a worker lets its credentials go', () => {
  const none = (): ComponentRecord | undefined => undefined;
  const allow = (...specs: string[]): PinningPolicy => ({
    allowed: specs.map((s) =>
      s.startsWith('s3:') || s.startsWith('local:')
        ? parseAllowSpec('artifact_store', s)
        : parseAllowSpec('secrets_manager', s),
    ),
    registered: none,
    env: {},
  });
  const S3 = 's3:path=s3://bkt/runs/,endpoint_url=http://127.0.0.1:4566,region=us-east-1';

  it('accepts the allowed locations, with defaults, variables and normalised URLs and paths', async () => {
    await checkJobStack(snapshot(), allow('vault:url=http://127.0.0.1:8200/', S3));
    // mount_point defaults to secret on both sides; the url may come from the worker's VAULT_ADDR.
    await checkJobStack(snapshot({ manager: { scope: 'global' } }), {
      ...allow('vault:url=http://127.0.0.1:8200', S3),
      env: { VAULT_ADDR: 'http://127.0.0.1:8200' },
    });
  });

  it('refuses any pinned field that differs, naming the component and the field', async () => {
    const cases: [StackSnapshot, RegExp][] = [
      [
        snapshot({ manager: { url: 'http://127.0.0.1:9999', mount_point: 'secret' } }),
        /field 'url' of the job's secrets-manager 'vault'/,
      ],
      [snapshot({ manager: { url: 'http://127.0.0.1:8200', mount_point: 'other' } }), /field 'mount_point'/],
      [snapshot({ manager: { url: 'http://127.0.0.1:8200', tls_skip_verify: true } }), /field 'tls_skip_verify'/],
      [snapshot({ manager: { url: 'http://127.0.0.1:8200', ca_cert: '/tmp/evil.pem' } }), /field 'ca_cert'/],
      [
        snapshot({ managerFlavor: 'aws', manager: { region_name: 'us-east-1', endpoint_url: 'http://127.0.0.1:9' } }),
        /flavor of the job's secrets-manager 'vault' \(flavor aws\)/,
      ],
      [
        snapshot({
          store: { path: 's3://other-bucket/runs', endpoint_url: 'http://127.0.0.1:4566', region: 'us-east-1' },
        }),
        /field 'path' of the job's artifact-store 'bucket'/,
      ],
      [
        snapshot({ store: { path: 's3://bkt/runs', endpoint_url: 'http://127.0.0.1:9', region: 'us-east-1' } }),
        /field 'endpoint_url'/,
      ],
      [snapshot({ manager: { url: { toString: () => 'http://127.0.0.1:8200' } } }), /field 'url'/],
    ];
    for (const [s, why] of cases)
      await expect(checkJobStack(s, allow('vault:url=http://127.0.0.1:8200', S3))).rejects.toThrow(why);
  });

  it('refuses local-only components and references in pinned fields, whatever the allow-list says', async () => {
    await expect(
      checkJobStack(
        snapshot({ managerFlavor: 'local', manager: { path: '/tmp/x.db' } }),
        allow('local:path=/tmp/x.db', S3),
      ),
    ).rejects.toThrow(/secrets-manager 'vault' \(flavor local\) exists only on the client's machine/);
    await expect(
      checkJobStack(
        snapshot({ storeFlavor: 'local', store: { path: '/tmp/out' } }),
        allow('vault:url=http://127.0.0.1:8200', 'local:path=/tmp/out'),
      ),
    ).rejects.toThrow(/artifact-store 'bucket' \(flavor local\) exists only/);
    await expect(
      checkJobStack(snapshot({ orchestrator: 'local' }), allow('vault:url=http://127.0.0.1:8200', S3)),
    ).rejects.toThrow(/orchestrator 'bq' \(flavor local\) does not run steps on workers/);
    await expect(
      checkJobStack(snapshot({ managerFlavor: 'mine' }), allow('vault:url=http://127.0.0.1:8200', S3)),
    ).rejects.toThrow(/flavor 'mine', which workers do not load/);
    await expect(
      checkJobStack(
        snapshot({ store: { path: 's3://bkt/runs', endpoint_url: '{{evil.url}}' } }),
        allow('vault:url=http://127.0.0.1:8200', S3),
      ),
    ).rejects.toThrow(/'endpoint_url' of the job's artifact-store 'bucket' is a secret reference/);
  });

  it('with no allow-list: only components registered on the worker, same UUID and location', async () => {
    const own =
      (s: StackSnapshot): ((uuid: string) => ComponentRecord | undefined) =>
      (uuid) => {
        const c = s.components.find((x) => x.uuid === uuid);
        return c ? { ...c, createdAt: '' } : undefined;
      };
    const mine = snapshot();
    await checkJobStack(mine, { allowed: [], registered: own(mine), env: {} });
    await expect(checkJobStack(mine, { allowed: [], registered: none, env: {} })).rejects.toThrow(
      /secrets-manager 'vault' \(uuid m-1\) is not registered in this worker's config store, and the worker has no --allow-manager list/,
    );
    await expect(
      checkJobStack(snapshot({ manager: { url: 'http://127.0.0.1:9', mount_point: 'secret' } }), {
        allowed: [],
        registered: own(mine),
        env: {},
      }),
    ).rejects.toThrow(/field 'url' .* differs from the worker's own registration/);
  });

  it('allow specs: a clear usage error for a malformed one', () => {
    expect(() => parseAllowSpec('secrets_manager', 'vault')).toThrow(/--allow-manager takes FLAVOR:FIELD=VALUE/);
    expect(() => parseAllowSpec('artifact_store', 's3:path')).toThrow(
      /--allow-artifact-store s3: 'path' is not FIELD=VALUE/,
    );
    expect(parseAllowSpec('secrets_manager', 'vault:url=http://h:8200/x?a=b,mount_point=kv')).toMatchObject({
      flavor: 'vault',
      fields: { url: 'http://h:8200/x?a=b', mount_point: 'kv' },
    });
  });
});

describe("a worker's nonce record", () => {
  it('claims each (run, step, attempt) once, across reopening; past deadlines are dropped', () => {
    const file = join(dir(), 'worker', 'nonces.db');
    const a = openNonceRecord(file);
    expect(a.claim(RUN, 'train', 1, Date.now() + 60_000)).toBe(true);
    expect(a.claim(RUN, 'train', 1, Date.now() + 60_000)).toBe(false);
    expect(a.claim(RUN, 'train', 2, Date.now() + 60_000)).toBe(true);
    expect(a.claim(RUN, 'old', 1, Date.now() - 1)).toBe(true);
    a.close();
    const b = openNonceRecord(file);
    expect(b.claim(RUN, 'train', 1, Date.now() + 60_000)).toBe(false);
    // Expired rows are gone (the deadline refuses such a job before the record is asked).
    expect(b.claim(RUN, 'old', 1, Date.now() - 1)).toBe(true);
    b.close();
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('artifact URIs and content', () => {
  it('URIs that could leave the store are refused', () => {
    for (const bad of ['', '/etc/passwd', '../x.json', 'a/../../x', 'a//b', './a', 'a\\..\\b', 'a\0b'])
      expect(() => checkArtifactUri(bad), bad).toThrow(/refused an artifact URI/);
    expect(() => checkArtifactUri(`${RUN}/train.json`)).not.toThrow();
    expect(() => checkArtifactUri('.cache/abc/1.json')).not.toThrow();
  });

  it('content that is not an output is reported by size, never quoted', () => {
    const secretish = 'root:x:0:0:TOPSECRET-LINE';
    let message = '';
    try {
      decodeArtifact(Buffer.from(secretish), 'r/x.json', 'bucket');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(`(${secretish.length} bytes that are not its JSON)`);
    expect(message).not.toContain('TOPSECRET');
    expect(message).not.toContain('root:x');
  });
});
