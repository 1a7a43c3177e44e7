/**
 * gcp's versioned writes: a Google secret holds its payload in versions, so a register is two
 * calls (CreateSecret, AddSecretVersion) and an update adds a version. Here: reading the latest
 * version, repairing a register that crashed between its two calls, and compare-and-set.
 *
 * Merges (`read` / `replaceIf`) are a compare-and-set on the Secret's etag: a writer first claims
 * the version it supersedes with UpdateSecret(etag) on the annotation `<prefix>_cas`, then adds its
 * version. A stale etag is ABORTED, so of two writers that read the same state one gets 'conflict';
 * readers wait while a claim is in flight (its version not yet added). Not covered: writers that
 * skip the claim (ZenML, older keystack) are last-writer-wins against a merge, and a claim whose
 * writer stalls for longer than CLAIM_LEASE_MS is taken over (its late version would then win).
 *
 * The token `read` returns is the version number, the id `versions` lists (DESIGN §16), not the
 * etag: `replaceIf` takes the etag `read` saw from this backend's memory, and otherwise reads the
 * secret again and goes on only while that number is still the latest and unclaimed.
 */
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { encodeContent, type StoredSecret } from '../secrets/content.js';
import { decodeOrFail } from '../core/kit.js';
import { backendFailure } from '../support/scrub.js';
import type { ReplaceOutcome, VersionedSecret } from '../core/types.js';
import { heldLease, readPastLeases, stamp, updateByRounds } from './shared/cas.js';
import { GrpcCode as G, grpcCode as _code } from './shared/grpc.js';

const FLAVOR_NAME = 'gcp';
/** A claim older than this is abandoned (its writer crashed) and may be taken over. */
const CLAIM_LEASE_MS = 10_000;
/** A secret without a version younger than this may still be mid-register by another process. */
export const REPAIR_AFTER_MS = 10_000;
const MAX_CAS_ROUNDS = 20;

export interface SecretMeta {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  etag: string;
  createMs: number;
}

/** What the versioned writes need from the flavor's backend. */
export interface GcpStore {
  call<T>(op: string, name: string | undefined, fn: (c: SecretManagerServiceClient) => Promise<T>): Promise<T>;
  /** The secret's resource path. */
  path(name: string): string;
  /** The labels a write sets, over `current`. */
  labelsFor(name: string, schema: string, current?: Record<string, string>): Record<string, string>;
  /** Whether a secret with these labels is `name` in this scope (only such a one is repaired). */
  owns(name: string, labels: Record<string, string>): boolean;
  prefix: string;
  opts: { retry: null; timeout: number };
}

export function gcpVersions(s: GcpStore) {
  const casKey = `${s.prefix}_cas`;
  const getMeta = async (op: string, name: string): Promise<SecretMeta | null> => {
    try {
      const [m] = await s.call(op, name, (c) => c.getSecret({ name: s.path(name) }, s.opts));
      return {
        labels: { ...(m.labels ?? {}) },
        annotations: { ...(m.annotations ?? {}) },
        etag: m.etag ?? '',
        createMs: Number(m.createTime?.seconds ?? 0) * 1000 + Math.floor((m.createTime?.nanos ?? 0) / 1e6),
      };
    } catch (e) {
      if (_code(e) === G.NOT_FOUND) return null;
      throw e;
    }
  };
  /** The latest version's number and payload; null when the secret has no version at all. */
  const latest = async (op: string, name: string): Promise<{ n: number; text: string } | null> => {
    try {
      const [v] = await s.call(op, name, (c) =>
        c.accessSecretVersion({ name: `${s.path(name)}/versions/latest` }, s.opts),
      );
      return { n: versionNumber(v.name), text: payloadText(v.payload?.data) };
    } catch (e) {
      if (_code(e) === G.NOT_FOUND) return null;
      if (_code(e) === G.FAILED_PRECONDITION) throw noEnabledVersion(op, name, e);
      throw e;
    }
  };
  const addVersion = async (op: string, name: string, secret: StoredSecret): Promise<number> => {
    const data = Buffer.from(encodeContent(secret, s.prefix), 'utf8');
    const [v] = await s.call(op, name, (c) => c.addSecretVersion({ parent: s.path(name), payload: { data } }, s.opts));
    return versionNumber(v.name);
  };
  /** UpdateSecret on `etag`: fails ABORTED when another writer changed the secret since. */
  const updateOn = (
    op: string,
    name: string,
    etag: string,
    labels: Record<string, string>,
    annotations: Record<string, string>,
    paths: string[],
  ) =>
    s.call(op, name, (c) =>
      c.updateSecret({ secret: { name: s.path(name), etag, labels, annotations }, updateMask: { paths } }, s.opts),
    );

  const read = async (name: string, op = 'update'): Promise<VersionedSecret | null> => {
    const seen = await readPastLeases(CLAIM_LEASE_MS, [50, 100], async () => {
      const meta = await getMeta(op, name);
      if (!meta) return { value: null, held: false };
      const v = await latest(op, name);
      if (!v) throw incomplete(op, name);
      // A claim on the version we see, not yet followed by its new version: that writer is mid-write.
      return { value: { meta, v }, held: heldLease(meta.annotations[casKey], CLAIM_LEASE_MS) === String(v.n) };
    });
    if (!seen) return null;
    const version = String(seen.v.n);
    claims.set(version, seen.meta);
    return { secret: decodeOrFail(FLAVOR_NAME, name, seen.v.text, s.prefix, 'the latest version'), version };
  };
  /** What `read` saw, per version token, so `replaceIf` keeps the other labels and annotations. */
  const claims = new Map<string, SecretMeta>();

  const replaceIf = async (
    name: string,
    secret: StoredSecret,
    version: string,
    op = 'update',
  ): Promise<ReplaceOutcome> => {
    const seen = claims.get(version);
    claims.delete(version);
    const meta = seen ?? (await getMeta(op, name));
    if (!meta) return 'absent';
    if (!seen) {
      // Another backend read it: from here the etag guards, so `version` must still be the latest, and unclaimed.
      const now = await latest(op, name);
      if (!now) return 'absent';
      if (String(now.n) !== version || heldLease(meta.annotations[casKey], CLAIM_LEASE_MS) === version)
        return 'conflict';
    }
    try {
      await updateOn(
        op,
        name,
        meta.etag,
        s.labelsFor(name, secret.schema, meta.labels),
        { ...meta.annotations, [casKey]: stamp(version) },
        ['labels', 'annotations'],
      );
      await addVersion(op, name, secret);
    } catch (e) {
      if (_code(e) === G.ABORTED) return 'conflict';
      if (_code(e) === G.NOT_FOUND) return 'absent';
      throw e;
    }
    return 'updated';
  };

  /**
   * register met ALREADY_EXISTS. A secret with a version is a real "exists". One without any
   * version is a register that crashed between its two calls: once it is older than any register
   * still in flight, take it over (UpdateSecret on its etag, so one repairer wins) and add the version.
   */
  const repair = async (name: string, secret: StoredSecret): Promise<boolean> => {
    for (;;) {
      if (await latest('register', name)) return false;
      const meta = await getMeta('register', name);
      if (!meta || !s.owns(name, meta.labels)) return false;
      const age = Date.now() - meta.createMs;
      if (age < REPAIR_AFTER_MS) {
        await new Promise((r) => setTimeout(r, Math.min(500, REPAIR_AFTER_MS - age)));
        continue;
      }
      try {
        await updateOn('register', name, meta.etag, s.labelsFor(name, secret.schema), meta.annotations, ['labels']);
      } catch (e) {
        if (_code(e) === G.ABORTED || _code(e) === G.NOT_FOUND) return false;
        throw e;
      }
      await addVersion('register', name, secret);
      return true;
    }
  };

  return {
    getMeta,
    latest,
    addVersion,
    repair,
    read: (name: string) => read(name),
    replaceIf: (name: string, secret: StoredSecret, version: string) => replaceIf(name, secret, version),
    update: (name: string, secret: StoredSecret) =>
      updateByRounds(
        FLAVOR_NAME,
        name,
        MAX_CAS_ROUNDS,
        () => read(name),
        (version) => replaceIf(name, secret, version),
      ),
  };
}

export function payloadText(payload: Uint8Array | string | null | undefined): string {
  return typeof payload === 'string' ? payload : Buffer.from(payload ?? []).toString('utf8');
}

function versionNumber(resource: string | null | undefined): number {
  return Number(/\/versions\/(\d+)$/.exec(resource ?? '')?.[1] ?? NaN);
}

export function incomplete(operation: string, name: string): Error {
  return backendFailure(
    { flavor: FLAVOR_NAME, operation, secretName: name },
    new Error('secret has no version'),
    'the GCP secret exists but has no version (a register that was interrupted)',
    `Run \`keystack secret register ${name} …\` again to complete it, or \`keystack secret delete ${name}\`.`,
  );
}

function noEnabledVersion(operation: string, name: string, e: unknown): Error {
  return backendFailure(
    { flavor: FLAVOR_NAME, operation, secretName: name },
    e,
    'the latest version of the GCP secret is disabled or destroyed (FAILED_PRECONDITION)',
    'Enable it (gcloud secrets versions enable), or write a new value with `keystack secret update`.',
  );
}
