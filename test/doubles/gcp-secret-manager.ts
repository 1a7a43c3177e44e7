/**
 * An in-repo double of GCP Secret Manager's gRPC API (v1), for when the blackwell emulator cannot
 * be installed (the Go module proxy here refuses it). It serves the real service definition from
 * the protos that ship with @google-cloud/secret-manager, so the SDK talks real gRPC to it, and it
 * is as strict as the documented service wherever keystack or ZenML depend on it (each rule has a
 * test in gcp-secret-manager.contract.test.ts):
 * - secret ids `[A-Za-z0-9_-]{1,255}`; `replication` required on create;
 * - labels: keys 1–63 chars starting with a lowercase letter, `[a-z0-9_-]`; values 0–63 chars of
 *   the same set; at most 64 labels; annotations: keys ≤ 63 chars, ≤ 16 KiB in total;
 * - the list filter language (cloud.google.com/secret-manager/docs/filtering): `field:value`
 *   (contains; `:*` = present), `field=value`, `NOT`/`-`, `AND`, `OR` (binds tighter than AND, as
 *   in AIP-160), parentheses, over `name` and `labels.<key>`; anything else is INVALID_ARGUMENT;
 * - page tokens belong to the query (parent, filter, page size) that issued them; another query's
 *   token or a made-up one is INVALID_ARGUMENT;
 * - `etag` on Secret; UpdateSecret and DeleteSecret with a stale etag are ABORTED; UpdateSecret
 *   needs an update_mask of known fields;
 * - versions numbered 1, 2, 3 … per secret by AddSecretVersion, never reused; ENABLED / DISABLED /
 *   DESTROYED (a destroyed one keeps its number, loses its payload and gets a destroy_time);
 *   `latest` is the most recently created version whatever its state; accessing a disabled or
 *   destroyed version is FAILED_PRECONDITION; ListSecretVersions lists newest first, without
 *   payloads, paged like ListSecrets; a version alias cannot be disabled, enabled or destroyed;
 * - payloads ≤ 64 KiB.
 *
 *   npx tsx test/doubles/gcp-secret-manager.ts --port 9090      # prints "ready 127.0.0.1:9090"
 *
 * In-process: `startGsmDouble()` also gives fault injection (PERMISSION_DENIED, RESOURCE_EXHAUSTED
 * quota errors, ...) and a clock for the flavor's error and repair tests.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface GsmDoubleOptions {
  port?: number;
}

export interface GsmDouble {
  endpoint: string;
  /** RPC names in the order they arrived. */
  calls: string[];
  /** Filters received by ListSecrets. */
  filters: string[];
  /** The next `times` calls of `method` (or any method, `*`) fail with `code`. */
  failNext(code: grpc.status, times?: number, method?: string): void;
  /** Moves a secret's create time `ms` into the past (for age-dependent repair logic). */
  backdate(project: string, id: string, ms: number): void;
  close(): Promise<void>;
}

type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';
interface StoredVersion {
  data: Buffer | null;
  state: VersionState;
  createTime: number;
  destroyTime?: number;
}
interface StoredSecret {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  createTime: number;
  etag: string;
  versions: StoredVersion[];
}

const ID_RE = /^[A-Za-z0-9_-]{1,255}$/;
const LABEL_KEY_RE = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE_RE = /^[a-z0-9_-]{0,63}$/;
const MAX_LABELS = 64;
const ANNOTATION_KEY_RE = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const MAX_ANNOTATION_BYTES = 16 * 1024;
const MAX_PAYLOAD = 65536;
const MAX_PAGE = 25000;
const UPDATABLE = new Set(['labels', 'annotations']);

export async function startGsmDouble(o: GsmDoubleOptions = {}): Promise<GsmDouble> {
  const require = createRequire(import.meta.url);
  // Both packages keep their protos in build/protos, beside build/src/index.js.
  const protos = (pkg: string) => join(dirname(require.resolve(pkg)), '..', 'protos');
  const def = await protoLoader.load('google/cloud/secretmanager/v1/service.proto', {
    includeDirs: [protos('@google-cloud/secret-manager'), protos('google-gax')],
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    google: { cloud: { secretmanager: { v1: { SecretManagerService: { service: grpc.ServiceDefinition } } } } };
  };
  const projects = new Map<string, Map<string, StoredSecret>>();
  const calls: string[] = [];
  const filters: string[] = [];
  const faults: { code: grpc.status; times: number; method: string }[] = [];
  // Page tokens are opaque and remember the query that issued them.
  const tokens = new Map<string, { query: string; offset: number }>();

  const fail = (code: grpc.status, details: string) => Object.assign(new Error(details), { code, details });
  const project = (p: string) => {
    let m = projects.get(p);
    if (!m) projects.set(p, (m = new Map<string, StoredSecret>()));
    return m;
  };
  const parent = (p: string) => {
    const m = /^projects\/([^/]+)$/.exec(p)?.[1];
    if (!m) throw fail(grpc.status.INVALID_ARGUMENT, `malformed parent ${p}`);
    return m;
  };
  /** Parses `projects/P/secrets/S[/versions/V]`. */
  const parse = (name: string) => {
    const m = /^projects\/([^/]+)\/secrets\/([^/]+)(?:\/versions\/([^/]+))?$/.exec(name);
    if (!m) throw fail(grpc.status.INVALID_ARGUMENT, `malformed resource name ${name}`);
    return { project: m[1]!, id: m[2]!, version: m[3] };
  };
  const find = (name: string) => {
    const r = parse(name);
    const s = project(r.project).get(r.id);
    if (!s)
      throw fail(grpc.status.NOT_FOUND, `Secret [projects/${r.project}/secrets/${r.id}] not found or has no versions.`);
    return { ...r, secret: s };
  };
  const findVersion = (name: string) => {
    const f = find(name);
    const n =
      f.version === 'latest'
        ? f.secret.versions.length
        : /^[1-9][0-9]*$/.test(f.version ?? '')
          ? Number(f.version)
          : NaN;
    if (Number.isNaN(n)) throw fail(grpc.status.INVALID_ARGUMENT, `malformed version ${f.version ?? ''}`);
    const v = f.secret.versions[n - 1];
    if (!v)
      throw fail(
        grpc.status.NOT_FOUND,
        `Secret Version [projects/${f.project}/secrets/${f.id}/versions/${f.version ?? ''}] not found.`,
      );
    return { ...f, n, v };
  };
  const newEtag = () => `"${randomBytes(9).toString('base64url')}"`;
  const ts = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });
  const secretMsg = (p: string, id: string, s: StoredSecret) => ({
    name: `projects/${p}/secrets/${id}`,
    labels: s.labels,
    annotations: s.annotations,
    createTime: ts(s.createTime),
    etag: s.etag,
    replication: { automatic: {} },
  });
  const versionMsg = (p: string, id: string, n: number, v: StoredVersion) => ({
    name: `projects/${p}/secrets/${id}/versions/${n}`,
    createTime: ts(v.createTime),
    state: v.state,
    etag: `"v${n}${v.state}"`,
    ...(v.destroyTime === undefined ? {} : { destroyTime: ts(v.destroyTime) }),
  });
  const checkLabels = (labels: Record<string, string>) => {
    const entries = Object.entries(labels);
    if (entries.length > MAX_LABELS)
      throw fail(grpc.status.INVALID_ARGUMENT, `a secret can have at most ${MAX_LABELS} labels`);
    for (const [k, v] of entries) {
      if (!LABEL_KEY_RE.test(k)) throw fail(grpc.status.INVALID_ARGUMENT, `invalid label key ${k}`);
      if (!LABEL_VALUE_RE.test(v)) throw fail(grpc.status.INVALID_ARGUMENT, `invalid value for label ${k}`);
    }
  };
  const checkAnnotations = (a: Record<string, string>) => {
    let bytes = 0;
    for (const [k, v] of Object.entries(a)) {
      if (!ANNOTATION_KEY_RE.test(k)) throw fail(grpc.status.INVALID_ARGUMENT, `invalid annotation key ${k}`);
      bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
    }
    if (bytes > MAX_ANNOTATION_BYTES) throw fail(grpc.status.INVALID_ARGUMENT, 'annotations exceed 16 KiB');
  };
  const checkEtag = (s: StoredSecret, etag: string | undefined) => {
    if (etag && etag !== s.etag)
      throw fail(
        grpc.status.ABORTED,
        'The etag provided in the request does not match the etag of the current resource.',
      );
  };
  const setState = (name: string, etag: string | undefined, state: VersionState) => {
    const f = findVersion(name);
    if (f.version === 'latest') throw fail(grpc.status.INVALID_ARGUMENT, 'a version alias cannot be used here');
    if (etag && etag !== versionMsg(f.project, f.id, f.n, f.v).etag) throw fail(grpc.status.ABORTED, 'etag mismatch');
    if (f.v.state === 'DESTROYED')
      throw fail(grpc.status.FAILED_PRECONDITION, `Secret Version [${name}] is in DESTROYED state.`);
    f.v.state = state;
    if (state === 'DESTROYED') Object.assign(f.v, { data: null, destroyTime: Date.now() });
    return versionMsg(f.project, f.id, f.n, f.v);
  };

  /* eslint-disable @typescript-eslint/no-explicit-any -- protoLoader gives untyped request objects */
  const handlers: Record<string, (req: any) => unknown> = {
    CreateSecret(req: {
      parent: string;
      secretId: string;
      secret: {
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
        replication?: { automatic?: unknown; userManaged?: unknown } | null;
      } | null;
    }) {
      const p = parent(req.parent);
      if (!ID_RE.test(req.secretId)) throw fail(grpc.status.INVALID_ARGUMENT, 'invalid secret id');
      const r = req.secret?.replication;
      if (!r || (!r.automatic && !r.userManaged))
        throw fail(grpc.status.INVALID_ARGUMENT, 'Secret.replication is required');
      const labels = { ...(req.secret?.labels ?? {}) };
      const annotations = { ...(req.secret?.annotations ?? {}) };
      checkLabels(labels);
      checkAnnotations(annotations);
      const m = project(p);
      if (m.has(req.secretId))
        throw fail(grpc.status.ALREADY_EXISTS, `Secret [projects/${p}/secrets/${req.secretId}] already exists.`);
      const s: StoredSecret = { labels, annotations, createTime: Date.now(), etag: newEtag(), versions: [] };
      m.set(req.secretId, s);
      return secretMsg(p, req.secretId, s);
    },
    GetSecret(req: { name: string }) {
      const f = find(req.name);
      return secretMsg(f.project, f.id, f.secret);
    },
    UpdateSecret(req: {
      secret: {
        name: string;
        etag: string;
        labels: Record<string, string>;
        annotations: Record<string, string>;
      } | null;
      updateMask: { paths: string[] } | null;
    }) {
      if (!req.secret) throw fail(grpc.status.INVALID_ARGUMENT, 'secret is required');
      const paths = req.updateMask?.paths ?? [];
      if (paths.length === 0) throw fail(grpc.status.INVALID_ARGUMENT, 'update_mask is required');
      for (const p of paths)
        if (!UPDATABLE.has(p)) throw fail(grpc.status.INVALID_ARGUMENT, `update_mask path ${p} is not supported`);
      const f = find(req.secret.name);
      checkEtag(f.secret, req.secret.etag);
      const labels = paths.includes('labels') ? { ...req.secret.labels } : f.secret.labels;
      const annotations = paths.includes('annotations') ? { ...req.secret.annotations } : f.secret.annotations;
      checkLabels(labels);
      checkAnnotations(annotations);
      Object.assign(f.secret, { labels, annotations, etag: newEtag() });
      return secretMsg(f.project, f.id, f.secret);
    },
    DeleteSecret(req: { name: string; etag: string }) {
      const f = find(req.name);
      checkEtag(f.secret, req.etag);
      project(f.project).delete(f.id);
      return {};
    },
    AddSecretVersion(req: { parent: string; payload: { data?: Buffer } | null }) {
      const f = find(req.parent);
      const data = Buffer.from(req.payload?.data ?? Buffer.alloc(0));
      if (data.length > MAX_PAYLOAD) throw fail(grpc.status.INVALID_ARGUMENT, 'payload is larger than 65536 bytes');
      const v: StoredVersion = { data, state: 'ENABLED', createTime: Date.now() };
      f.secret.versions.push(v);
      return versionMsg(f.project, f.id, f.secret.versions.length, v);
    },
    GetSecretVersion(req: { name: string }) {
      const f = findVersion(req.name);
      return versionMsg(f.project, f.id, f.n, f.v);
    },
    AccessSecretVersion(req: { name: string }) {
      const f = findVersion(req.name);
      if (f.v.state !== 'ENABLED' || !f.v.data) {
        throw fail(
          grpc.status.FAILED_PRECONDITION,
          `Secret Version [projects/${f.project}/secrets/${f.id}/versions/${f.n}] is in ${f.v.state} state.`,
        );
      }
      return {
        name: `projects/${f.project}/secrets/${f.id}/versions/${f.n}`,
        payload: { data: f.v.data, dataCrc32c: null },
      };
    },
    DisableSecretVersion: (req: { name: string; etag: string }) => setState(req.name, req.etag, 'DISABLED'),
    EnableSecretVersion: (req: { name: string; etag: string }) => setState(req.name, req.etag, 'ENABLED'),
    DestroySecretVersion: (req: { name: string; etag: string }) => setState(req.name, req.etag, 'DESTROYED'),
    ListSecretVersions(req: { parent: string; pageSize: number; pageToken: string; filter: string }) {
      const f = find(req.parent);
      if (req.filter) throw fail(grpc.status.INVALID_ARGUMENT, 'the double does not filter versions');
      const all = f.secret.versions.map((v, i) => versionMsg(f.project, f.id, i + 1, v)).reverse();
      return page(`${req.parent}|versions|${req.pageSize}`, req.pageSize, req.pageToken, all, 'versions');
    },
    ListSecrets(req: { parent: string; pageSize: number; pageToken: string; filter: string }) {
      const p = parent(req.parent);
      filters.push(req.filter);
      const match = compileFilter(req.filter, (d) => fail(grpc.status.INVALID_ARGUMENT, d));
      const all = [...project(p).entries()]
        .filter(([id, s]) => match({ name: `projects/${p}/secrets/${id}`, labels: s.labels }))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([id, s]) => secretMsg(p, id, s));
      return page(`${req.parent}|${req.filter}|${req.pageSize}`, req.pageSize, req.pageToken, all, 'secrets');
    },
  };
  /* eslint-enable @typescript-eslint/no-explicit-any */

  function page<T>(query: string, pageSize: number, pageToken: string, all: T[], field: string) {
    if (pageSize < 0) throw fail(grpc.status.INVALID_ARGUMENT, 'page_size must not be negative');
    const size = Math.min(pageSize > 0 ? pageSize : 25000, MAX_PAGE);
    let start = 0;
    if (pageToken) {
      const t = tokens.get(pageToken);
      if (!t || t.query !== query)
        throw fail(grpc.status.INVALID_ARGUMENT, 'Invalid page token: it does not belong to this request.');
      start = t.offset;
    }
    let next = '';
    if (start + size < all.length) {
      next = createHash('sha256')
        .update(`${query}|${start + size}|${randomBytes(8).toString('hex')}`)
        .digest('base64url');
      tokens.set(next, { query, offset: start + size });
    }
    return { [field]: all.slice(start, start + size), nextPageToken: next, totalSize: all.length };
  }

  const service = pkg.google.cloud.secretmanager.v1.SecretManagerService.service;
  const impl: grpc.UntypedServiceImplementation = {};
  for (const method of Object.keys(service)) {
    impl[method] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      calls.push(method);
      const fault = faults.find((f) => f.times > 0 && (f.method === '*' || f.method === method));
      if (fault) {
        fault.times--;
        const what =
          fault.code === grpc.status.RESOURCE_EXHAUSTED
            ? "Quota exceeded for quota metric 'Access requests' (injected)"
            : `injected ${grpc.status[fault.code]}`;
        return cb(fail(fault.code, what));
      }
      const h = handlers[method];
      if (!h) return cb(fail(grpc.status.UNIMPLEMENTED, `${method} is not implemented by the double`));
      try {
        cb(null, h(call.request));
      } catch (e) {
        cb(e as grpc.ServiceError);
      }
    };
  }
  const server = new grpc.Server();
  server.addService(service, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${o.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    endpoint: `127.0.0.1:${port}`,
    calls,
    filters,
    failNext(code, times = 1, method = '*') {
      faults.push({ code, times, method });
    },
    backdate(p, id, ms) {
      const s = project(p).get(id);
      if (s) s.createTime -= ms;
    },
    close: () => new Promise<void>((r) => server.tryShutdown(() => r())),
  };
}

interface Listed {
  name: string;
  labels: Record<string, string>;
}
type Pred = (s: Listed) => boolean;

/**
 * GCP's list filter language, as far as Secret Manager documents it for ListSecrets: restrictions
 * `field:value` / `field=value` (value bare or double-quoted; `:*` tests presence), negation with
 * `NOT` or `-`, `AND` (also implicit), `OR` binding tighter than AND, and parentheses. Fields:
 * `name` and `labels.<key>`. Anything else is rejected, as GCP rejects what it cannot parse.
 */
export function compileFilter(filter: string, fail: (d: string) => Error): Pred {
  const toks = filter.match(/"(?:[^"\\]|\\.)*"|\(|\)|[^\s()]+/g) ?? [];
  let i = 0;
  const peek = () => toks[i];
  const expr = (): Pred => {
    const parts: Pred[] = [term()];
    while (i < toks.length && peek() !== ')') {
      if (peek() === 'AND') i++;
      parts.push(term());
    }
    return (s) => parts.every((p) => p(s));
  };
  const term = (): Pred => {
    const alts: Pred[] = [factor()];
    while (peek() === 'OR') {
      i++;
      alts.push(factor());
    }
    return (s) => alts.some((p) => p(s));
  };
  const factor = (): Pred => {
    const t = toks[i++];
    if (t === undefined) throw fail('unexpected end of filter');
    if (t === 'NOT') {
      const inner = factor();
      return (s) => !inner(s);
    }
    if (t === '(') {
      const inner = expr();
      if (toks[i++] !== ')') throw fail('missing ) in filter');
      return inner;
    }
    if (t === 'AND' || t === 'OR' || t === ')') throw fail(`unexpected ${t} in filter`);
    const neg = t.startsWith('-');
    const m = /^(name|labels\.[a-z][a-z0-9_-]*)(:|=)(.*)$/.exec(neg ? t.slice(1) : t);
    if (!m) throw fail(`unsupported filter term: ${t}`);
    const [, field = '', op, rawValue = ''] = m;
    let value = rawValue;
    if (value.startsWith('"')) value = JSON.parse(value) as string;
    else if (value === '' && op === ':') throw fail(`missing value in filter term: ${t}`);
    else if (!/^[^\s()"=:]*$/.test(value)) throw fail(`unsupported filter term: ${t}`);
    const get = (s: Listed) => (field === 'name' ? s.name : s.labels[field.slice('labels.'.length)]);
    const p: Pred = (s) => {
      const v = get(s);
      if (op === ':' && value === '*') return v !== undefined;
      if (v === undefined) return false;
      if (op === '=') return field === 'name' ? v === value || v.endsWith(`/${value}`) : v === value;
      return v.toLowerCase().includes(value.toLowerCase());
    };
    return neg ? (s) => !p(s) : p;
  };
  if (toks.length === 0) return () => true;
  const pred = expr();
  if (i < toks.length) throw fail(`unexpected ${toks[i] ?? ''} in filter`);
  return pred;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : 9090;
  const d = await startGsmDouble({ port });
  console.log(`ready ${d.endpoint}`);
  const stop = () => void d.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
