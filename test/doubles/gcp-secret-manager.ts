/**
 * An in-repo double of GCP Secret Manager's gRPC API (v1), for when the blackwell emulator cannot
 * be installed (the Go module proxy here refuses it). It serves the real service definition from
 * the protos that ship with @google-cloud/secret-manager, so the SDK talks real gRPC to it, and it
 * applies GCP's documented rules that matter to keystack: secret id and label syntax, the 64 KiB
 * payload limit, ALREADY_EXISTS / NOT_FOUND, paging, and the label subset of the list filter
 * language (`labels.k=v`, `labels.k:*`, `NOT labels.k:*`, joined by AND).
 *
 *   npx tsx test/doubles/gcp-secret-manager.ts --port 9090      # prints "ready 127.0.0.1:9090"
 *
 * In-process: `startGsmDouble()` also gives fault injection for the flavor's error tests.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface GsmDoubleOptions {
  port?: number;
  /** `ignore` behaves like the blackwell emulator, which does not parse filters. @default 'apply' */
  filter?: 'apply' | 'ignore';
}

export interface GsmDouble {
  endpoint: string;
  /** RPC names in the order they arrived. */
  calls: string[];
  /** Filters received by ListSecrets. */
  filters: string[];
  /** The next `times` calls of `method` (or any method, `*`) fail with `code`. */
  failNext(code: grpc.status, times?: number, method?: string): void;
  close(): Promise<void>;
}

interface StoredSecret {
  labels: Record<string, string>;
  createTime: number;
  versions: Buffer[];
}

const ID_RE = /^[A-Za-z0-9_-]{1,255}$/;
const LABEL_KEY_RE = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE_RE = /^[a-z0-9_-]{0,63}$/;
const MAX_PAYLOAD = 65536;

export async function startGsmDouble(o: GsmDoubleOptions = {}): Promise<GsmDouble> {
  const require = createRequire(import.meta.url);
  // Both packages keep their protos in build/protos, beside build/src/index.js.
  const protos = (pkg: string) => join(dirname(require.resolve(pkg)), '..', 'protos');
  const smRoot = protos('@google-cloud/secret-manager');
  const gaxRoot = protos('google-gax');
  const def = await protoLoader.load('google/cloud/secretmanager/v1/service.proto', {
    includeDirs: [smRoot, gaxRoot],
    keepCase: false,
    longs: Number,
    defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    google: { cloud: { secretmanager: { v1: { SecretManagerService: { service: grpc.ServiceDefinition } } } } };
  };
  const projects = new Map<string, Map<string, StoredSecret>>();
  const calls: string[] = [];
  const filters: string[] = [];
  const faults: { code: grpc.status; times: number; method: string }[] = [];
  const mode = o.filter ?? 'apply';

  const fail = (code: grpc.status, details: string) => Object.assign(new Error(details), { code, details });
  const project = (p: string) => {
    let m = projects.get(p);
    if (!m) projects.set(p, (m = new Map<string, StoredSecret>()));
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
    if (!s) throw fail(grpc.status.NOT_FOUND, `Secret [${name}] not found or has no versions.`);
    return { ...r, secret: s };
  };
  const secretMsg = (p: string, id: string, s: StoredSecret) => ({
    name: `projects/${p}/secrets/${id}`,
    labels: s.labels,
    createTime: { seconds: Math.floor(s.createTime / 1000), nanos: 0 },
    replication: { automatic: {} },
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each handler types its own request; `any` lets them share one table
  const handlers: Record<string, (req: any) => unknown> = {
    CreateSecret(req: { parent: string; secretId: string; secret?: { labels?: Record<string, string> } }) {
      const p = /^projects\/([^/]+)$/.exec(req.parent)?.[1];
      if (!p) throw fail(grpc.status.INVALID_ARGUMENT, 'malformed parent');
      if (!ID_RE.test(req.secretId)) throw fail(grpc.status.INVALID_ARGUMENT, 'invalid secret id');
      const labels = req.secret?.labels ?? {};
      for (const [k, v] of Object.entries(labels)) {
        if (!LABEL_KEY_RE.test(k) || !LABEL_VALUE_RE.test(v)) throw fail(grpc.status.INVALID_ARGUMENT, `invalid label ${k}`);
      }
      const m = project(p);
      if (m.has(req.secretId)) throw fail(grpc.status.ALREADY_EXISTS, `Secret [projects/${p}/secrets/${req.secretId}] already exists.`);
      const s: StoredSecret = { labels: { ...labels }, createTime: Date.now(), versions: [] };
      m.set(req.secretId, s);
      return secretMsg(p, req.secretId, s);
    },
    GetSecret(req: { name: string }) {
      const f = find(req.name);
      return secretMsg(f.project, f.id, f.secret);
    },
    DeleteSecret(req: { name: string }) {
      const f = find(req.name);
      project(f.project).delete(f.id);
      return {};
    },
    AddSecretVersion(req: { parent: string; payload?: { data?: Buffer } }) {
      const f = find(req.parent);
      const data = Buffer.from(req.payload?.data ?? Buffer.alloc(0));
      if (data.length > MAX_PAYLOAD) throw fail(grpc.status.INVALID_ARGUMENT, 'payload is larger than 65536 bytes');
      f.secret.versions.push(data);
      return { name: `${req.parent}/versions/${f.secret.versions.length}`, state: 'ENABLED' };
    },
    AccessSecretVersion(req: { name: string }) {
      const f = find(req.name);
      const n = f.version === 'latest' ? f.secret.versions.length : Number(f.version);
      const data = f.secret.versions[n - 1];
      if (!data) throw fail(grpc.status.NOT_FOUND, `Secret Version [${req.name}] not found.`);
      return { name: `projects/${f.project}/secrets/${f.id}/versions/${n}`, payload: { data } };
    },
    ListSecrets(req: { parent: string; pageSize: number; pageToken: string; filter: string }) {
      const p = /^projects\/([^/]+)$/.exec(req.parent)?.[1];
      if (!p) throw fail(grpc.status.INVALID_ARGUMENT, 'malformed parent');
      filters.push(req.filter);
      const match = mode === 'apply' ? compileFilter(req.filter, fail) : () => true;
      const all = [...project(p).entries()].filter(([, s]) => match(s.labels)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const size = Math.min(req.pageSize > 0 ? req.pageSize : 25, 25000);
      const start = req.pageToken ? Number(req.pageToken) : 0;
      const page = all.slice(start, start + size);
      return {
        secrets: page.map(([id, s]) => secretMsg(p, id, s)),
        nextPageToken: start + size < all.length ? String(start + size) : '',
        totalSize: all.length,
      };
    },
  };

  const service = pkg.google.cloud.secretmanager.v1.SecretManagerService.service;
  const impl: grpc.UntypedServiceImplementation = {};
  for (const method of Object.keys(service)) {
    impl[method] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      calls.push(method);
      const fault = faults.find((f) => f.times > 0 && (f.method === '*' || f.method === method));
      if (fault) {
        fault.times--;
        return cb(fail(fault.code, `injected ${grpc.status[fault.code]}`));
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
    server.bindAsync(`127.0.0.1:${o.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    endpoint: `127.0.0.1:${port}`,
    calls,
    filters,
    failNext(code, times = 1, method = '*') {
      faults.push({ code, times, method });
    },
    close: () => new Promise<void>((r) => server.tryShutdown(() => r())),
  };
}

/** The label subset of GCP's list filter language; anything else is INVALID_ARGUMENT, as on GCP for bad syntax. */
function compileFilter(filter: string, fail: (c: grpc.status, d: string) => Error): (labels: Record<string, string>) => boolean {
  if (filter.trim() === '') return () => true;
  const terms = filter.split(/\s+AND\s+/).map((t) => {
    const m = /^(NOT\s+)?labels\.([a-z][a-z0-9_-]*)(?::(\*)|=(\S*))$/.exec(t.trim());
    if (!m) throw fail(grpc.status.INVALID_ARGUMENT, `unsupported filter term: ${t}`);
    const [, not, key, star, value] = m;
    return (l: Record<string, string>) => {
      const hit = star ? key! in l : l[key!] === value;
      return not ? !hit : hit;
    };
  });
  return (l) => terms.every((t) => t(l));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : 9090;
  const d = await startGsmDouble({ port, filter: process.argv.includes('--ignore-filter') ? 'ignore' : 'apply' });
  console.log(`ready ${d.endpoint}`);
  const stop = () => void d.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
