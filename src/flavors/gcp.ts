/**
 * `gcp`: GCP Secret Manager over gRPC. One Google secret per keystack secret in every scope (ZenML
 * 0.30's scoped layout): id = scope path + name joined with `-`, scope labels (and the schema label,
 * kept current on every write), and one version per write holding the JSON payload.
 *
 * ZenML's legacy `none` layout (one Google secret per key, id `<name>_<key>`, labels
 * `zenml-group-key` / `zenml-schema-name`) is read as one secret per group, read-only, so that it can
 * be copied into a keystack secret; keystack never lists a group member as a secret of its own and
 * never deletes one.
 *
 * Merges (`read` / `replaceIf`) are a compare-and-set on the Secret's etag: a writer first claims
 * the version it supersedes with UpdateSecret(etag) on the annotation `<prefix>_cas`, then adds its
 * version. A stale etag is ABORTED, so of two writers that read the same state one gets 'conflict';
 * readers wait while a claim is in flight (its version not yet added). Not covered: writers that
 * skip the claim (ZenML, older keystack) are last-writer-wins against a merge, and a claim whose
 * writer stalls for longer than CLAIM_LEASE_MS is taken over (its late version would then win).
 */
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { decodeContent, encodeContent, type StoredSecret } from '../secrets/content.js';
import { fullMatch, type NameRule } from '../secrets/names.js';
import { scopeMetadata, secretMetadata } from '../secrets/scope.js';
import { heldLease, readPastLeases, stamp, updateByRounds } from './shared/cas.js';
import { GrpcCode as G, grpcClassifier, grpcCode as _code, parseEndpoint } from './shared/grpc.js';
import { allPages, decodeOrFail, deleteEach } from '../core/kit.js';
import { backendFailure } from '../support/scrub.js';
import { createCaller } from '../support/caller.js';
import { importLib } from '../support/optional-import.js';
import { reservedInNone, reservedNameError, taggedName } from './shared/tags.js';
import { defineFlavor, type FlavorContext, type ReplaceOutcome, type SecretsBackend, type VersionedSecret } from '../core/types.js';
import { assembleGroup, decodeOwn, GROUP_KEY, GROUP_SCHEMA, groupIsReadOnly, withPayloads, type GroupWording } from './shared/zenml-groups.js';

export const FLAVOR_NAME = 'gcp';

export interface GcpFlavorOptions {
  /** The project that holds the secrets. */
  project_id: string;
  /**
   * `host:port` of the Secret Manager API. Loopback hosts (an emulator) get plain-text gRPC with no
   * credentials; any other host gets TLS. @default the public endpoint
   */
  api_endpoint?: string;
  /** A service-account key file. @default Application Default Credentials */
  credentials_file?: string;
}

const NAME_RULE: NameRule = {
  pattern: /[a-z0-9_-]+/,
  maxLength: 63,
  description: 'must contain only lowercase letters, digits, - and _ (it is also a GCP label value)',
};
const PAGE_SIZE = 100;
const DELETE_CONCURRENCY = 8;
const GROUPS: GroupWording = { flavor: FLAVOR_NAME, object: 'GCP secret', cleanup: 'delete the per-key secrets with gcloud' };
/** A claim older than this is abandoned (its writer crashed) and may be taken over. */
const CLAIM_LEASE_MS = 10_000;
/** A secret without a version younger than this may still be mid-register by another process. */
export const REPAIR_AFTER_MS = 10_000;
const MAX_CAS_ROUNDS = 20;

export default defineFlavor<GcpFlavorOptions>({
  name: FLAVOR_NAME,
  description: 'GCP Secret Manager',
  supportsScoping: true,
  separator: '-',
  locationFields: ['project_id', 'api_endpoint'],
  // Which of a worker's own credentials is used: a job may not pick another.
  trustFields: ['credentials_file'],
  nameRule: NAME_RULE,
  maxContentBytes: 64 * 1024,
  config: {
    project_id: { type: 'string', description: 'GCP project id', required: true, env: 'GOOGLE_CLOUD_PROJECT' },
    api_endpoint: { type: 'string', description: 'host:port of the API; plain-text gRPC for loopback emulators only' },
    credentials_file: { type: 'string', description: 'service-account key file (default: ADC)', sensitive: true, env: 'GOOGLE_APPLICATION_CREDENTIALS' },
  },
  dependencies: { '@google-cloud/secret-manager': '~6.3.0', '@grpc/grpc-js': '~1.14.7' },
  create: (ctx) => createGcpBackend(ctx),
});

interface SecretMeta {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  etag: string;
  createMs: number;
}

function createGcpBackend(ctx: FlavorContext<GcpFlavorOptions>): SecretsBackend {
  const { scope } = ctx;
  const P = scope.prefix;
  const parent = `projects/${ctx.config.project_id}`;
  const secretPath = (name: string) => `${parent}/secrets/${ctx.names.full(name)}`;
  const casKey = `${P}_cas`;
  const schemaLabel = `${P}_secret_schema`;
  let client: Promise<SecretManagerServiceClient> | undefined;
  const sm = () => (client ??= _connect(ctx.config));
  // Our own retry of throttling only; the SDK's retries are off so calls are counted and bounded.
  const caller = createCaller({ flavor: FLAVOR_NAME, env: ctx.env, classify: CLASSIFY });
  const call = async <T>(op: string, name: string | undefined, fn: (c: SecretManagerServiceClient) => Promise<T>): Promise<T> => {
    const c = await sm();
    return caller.run(op, name, () => fn(c));
  };
  const none = scope.scope === 'none';
  const reserved = (name: string) => reservedInNone(scope, name, '-');
  const nameOf = (id: string, labels: Record<string, string>) => taggedName(scope, ctx.names, id, labels, '-', _validName);
  const OPTS = { retry: null, timeout: caller.limits.requestTimeoutMs } as const;
  /** Labels a keystack write sets: the scope's, plus the schema (also in `none` scope, where it marks keystack's own). */
  const labelsFor = (name: string, schema: string, current: Record<string, string> = {}) =>
    ({ ...current, ..._labels(secretMetadata(scope, name, schema)), [schemaLabel]: _labelValue(schema) });

  const listRaw = (filter: string) => allPages(async (pageToken = '') => {
    const [secrets, , res] = await call('list', undefined, (c) => c.listSecrets({ parent, filter, pageSize: PAGE_SIZE, pageToken }, { ...OPTS, autoPaginate: false }));
    const items = secrets.map((s) => ({ id: s.name?.slice(s.name.lastIndexOf('/') + 1) ?? '', labels: s.labels ?? {} }));
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the raw page response is typed as always there; if a backend leaves it out the listing ends instead of throwing
    return { items, next: res?.nextPageToken };
  });

  /** This scope's own secrets, and (in `none` scope) ZenML's per-key groups. */
  const scan = async (): Promise<{ own: string[]; groups: Set<string> }> => {
    const filter = none ? `NOT labels.${P}_scope:*` : Object.entries(scopeMetadata(scope)).map(([k, v]) => `labels.${k}=${v}`).join(' AND ');
    const own: string[] = [];
    const groups = new Set<string>();
    const unmarked: string[] = [];
    for (const { id, labels } of await listRaw(filter)) {
      const group = none ? labels[GROUP_KEY] : undefined;
      if (group !== undefined) {
        if (_validName(group)) groups.add(group);
        continue;
      }
      const name = nameOf(id, labels);
      if (name !== null && !(none && 'zenml_scope' in labels)) (!none || schemaLabel in labels ? own : unmarked).push(name);
    }
    own.push(...(await withPayloads(unmarked, DELETE_CONCURRENCY, readable)));
    return { own, groups };
  };
  const readable = async (id: string): Promise<boolean> => {
    try {
      const [v] = await call('list', id, (c) => c.accessSecretVersion({ name: `${parent}/secrets/${id}/versions/latest` }, OPTS));
      decodeContent(_text(v.payload?.data), P);
      return true;
    } catch (e) {
      if (_code(e) === G.NOT_FOUND || _code(e) === G.FAILED_PRECONDITION || e instanceof SyntaxError || e instanceof TypeError) return false;
      throw e;
    }
  };

  /** ZenML's per-key group `name`, assembled, or null when there is none. */
  const membersOf = async (name: string) => (none ? (await listRaw(`labels.${GROUP_KEY}=${name}`)).filter((m) => m.labels[GROUP_KEY] === name) : []);
  const readGroup = async (name: string): Promise<StoredSecret | null> => {
    const members = await membersOf(name);
    if (members.length === 0) return null;
    const keyed = members.map((m) => {
      const key = m.id.startsWith(`${name}_`) ? m.id.slice(name.length + 1) : '';
      if (key === '') throw backendFailure({ flavor: FLAVOR_NAME, operation: 'get', secretName: name }, new Error(`per-key secret '${m.id}' is not named '${name}_<key>'`));
      return { id: m.id, key };
    });
    return assembleGroup(keyed, members[0]?.labels[GROUP_SCHEMA], keyed.length, async (id) =>
      _text((await call('get', name, (c) => c.accessSecretVersion({ name: `${parent}/secrets/${id}/versions/latest` }, OPTS)))[0].payload?.data));
  };
  const isGroup = async (name: string) => (await membersOf(name)).length > 0;

  const getMeta = async (op: string, name: string): Promise<SecretMeta | null> => {
    try {
      const [s] = await call(op, name, (c) => c.getSecret({ name: secretPath(name) }, OPTS));
      return {
        labels: { ...(s.labels ?? {}) },
        annotations: { ...(s.annotations ?? {}) },
        etag: s.etag ?? '',
        createMs: Number(s.createTime?.seconds ?? 0) * 1000 + Math.floor((s.createTime?.nanos ?? 0) / 1e6),
      };
    } catch (e) {
      if (_code(e) === G.NOT_FOUND) return null;
      throw e;
    }
  };
  /** The latest version's number and payload; null when the secret has no version at all. */
  const latest = async (op: string, name: string): Promise<{ n: number; text: string } | null> => {
    try {
      const [v] = await call(op, name, (c) => c.accessSecretVersion({ name: `${secretPath(name)}/versions/latest` }, OPTS));
      return { n: _versionNumber(v.name), text: _text(v.payload?.data) };
    } catch (e) {
      if (_code(e) === G.NOT_FOUND) return null;
      if (_code(e) === G.FAILED_PRECONDITION) throw _noEnabledVersion(op, name, e);
      throw e;
    }
  };
  const addVersion = async (op: string, name: string, secret: StoredSecret): Promise<number> => {
    const data = Buffer.from(encodeContent(secret, P), 'utf8');
    const [v] = await call(op, name, (c) => c.addSecretVersion({ parent: secretPath(name), payload: { data } }, OPTS));
    return _versionNumber(v.name);
  };

  const read = async (name: string, op = 'update'): Promise<VersionedSecret | null> => {
    if (reserved(name)) return null;
    const seen = await readPastLeases(CLAIM_LEASE_MS, [50, 100], async () => {
      const meta = await getMeta(op, name);
      if (!meta) {
        if (await isGroup(name)) throw groupIsReadOnly(GROUPS, op, name);
        return { value: null, held: false };
      }
      const v = await latest(op, name);
      if (!v) throw _incomplete(op, name);
      // A claim on the version we see, not yet followed by its new version: that writer is mid-write.
      return { value: { meta, v }, held: heldLease(meta.annotations[casKey], CLAIM_LEASE_MS) === String(v.n) };
    });
    if (!seen) return null;
    const version = `${seen.meta.etag} ${seen.v.n}`;
    claims.set(version, seen.meta);
    return { secret: decodeOrFail(FLAVOR_NAME, name, seen.v.text, P, 'the latest version'), version };
  };
  /** What `read` saw, per version token, so `replaceIf` keeps the other labels and annotations. */
  const claims = new Map<string, SecretMeta>();

  const replaceIf = async (name: string, secret: StoredSecret, version: string, op = 'update'): Promise<ReplaceOutcome> => {
    const [etag = '', n = '0'] = version.split(' ');
    const meta = claims.get(version) ?? (await getMeta(op, name));
    claims.delete(version);
    if (!meta) return 'absent';
    if (meta.etag !== etag) return 'conflict';
    try {
      await call(op, name, (c) => c.updateSecret({
        secret: {
          name: secretPath(name),
          etag,
          labels: labelsFor(name, secret.schema, meta.labels),
          annotations: { ...meta.annotations, [casKey]: stamp(n) },
        },
        updateMask: { paths: ['labels', 'annotations'] },
      }, OPTS));
    } catch (e) {
      if (_code(e) === G.ABORTED) return 'conflict';
      if (_code(e) === G.NOT_FOUND) return 'absent';
      throw e;
    }
    try {
      await addVersion(op, name, secret);
    } catch (e) {
      if (_code(e) === G.NOT_FOUND) return 'absent';
      throw e;
    }
    return 'updated';
  };

  return {
    async create(name, secret) {
      if (reserved(name)) throw reservedNameError(scope, name);
      if (await isGroup(name)) return false;
      const labels = labelsFor(name, secret.schema);
      try {
        await call('register', name, (c) => c.createSecret({ parent, secretId: ctx.names.full(name), secret: { labels, replication: { automatic: {} } } }, OPTS));
      } catch (e) {
        if (_code(e) === G.ALREADY_EXISTS) return repair(name, secret);
        throw e;
      }
      try {
        await addVersion('register', name, secret);
      } catch (e) {
        // A secret without a version blocks the name: remove it (a crash here is repaired by the next register).
        await call('register', name, (c) => c.deleteSecret({ name: secretPath(name) }, OPTS)).catch(() => undefined);
        throw e;
      }
      return true;
    },
    async get(name) {
      if (reserved(name)) return null;
      const v = await latest('get', name);
      if (v) return decodeOwn(FLAVOR_NAME, name, v.text, P, 'the latest version', async () => (none ? (await getMeta('get', name))?.labels[GROUP_KEY] : undefined));
      // Absent, ZenML's per-key group, or a secret whose register was interrupted (list shows it).
      const group = await readGroup(name);
      if (group) return group;
      if (await getMeta('get', name)) throw _incomplete('get', name);
      return null;
    },
    async list() {
      const { own, groups } = await scan();
      return [...own, ...groups];
    },
    update: (name, secret) => updateByRounds(FLAVOR_NAME, name, MAX_CAS_ROUNDS, () => read(name), (version) => replaceIf(name, secret, version)),
    read: (name) => read(name),
    replaceIf: (name, secret, version) => replaceIf(name, secret, version),
    async delete(name) {
      if (reserved(name)) return false;
      try {
        await call('delete', name, (c) => c.deleteSecret({ name: secretPath(name) }, OPTS));
        return true;
      } catch (e) {
        if (_code(e) !== G.NOT_FOUND) throw e;
      }
      if (await isGroup(name)) throw groupIsReadOnly(GROUPS, 'delete', name);
      return false;
    },
    async deleteAll() {
      // Only secrets keystack can read as its own; never a member of ZenML's per-key groups.
      return deleteEach((await scan()).own, DELETE_CONCURRENCY, (n) => this.delete(n));
    },
    async close() {
      const c = client;
      client = undefined;
      await (await c?.catch(() => undefined))?.close();
    },
  };

  /**
   * register met ALREADY_EXISTS. A secret with a version is a real "exists". One without any
   * version is a register that crashed between its two calls: once it is older than any register
   * still in flight, take it over (UpdateSecret on its etag, so one repairer wins) and add the version.
   */
  async function repair(name: string, secret: StoredSecret): Promise<boolean> {
    for (;;) {
      if (await latest('register', name)) return false;
      const meta = await getMeta('register', name);
      if (!meta) return false;
      if (!none && nameOf(ctx.names.full(name), meta.labels) !== name) return false;
      const age = Date.now() - meta.createMs;
      if (age < REPAIR_AFTER_MS) {
        await new Promise((r) => setTimeout(r, Math.min(500, REPAIR_AFTER_MS - age)));
        continue;
      }
      try {
        await call('register', name, (c) => c.updateSecret({
          secret: { name: secretPath(name), etag: meta.etag, labels: labelsFor(name, secret.schema), annotations: meta.annotations },
          updateMask: { paths: ['labels'] },
        }, OPTS));
      } catch (e) {
        if (_code(e) === G.ABORTED || _code(e) === G.NOT_FOUND) return false;
        throw e;
      }
      await addVersion('register', name, secret);
      return true;
    }
  }
}

function _validName(n: string): boolean {
  return n.length <= NAME_RULE.maxLength && fullMatch(NAME_RULE.pattern, n);
}

function _text(payload: Uint8Array | string | null | undefined): string {
  return typeof payload === 'string' ? payload : Buffer.from(payload ?? []).toString('utf8');
}

function _versionNumber(resource: string | null | undefined): number {
  return Number(/\/versions\/(\d+)$/.exec(resource ?? '')?.[1] ?? NaN);
}

function _incomplete(operation: string, name: string): Error {
  return backendFailure({ flavor: FLAVOR_NAME, operation, secretName: name }, new Error('secret has no version'),
    'the GCP secret exists but has no version (a register that was interrupted)',
    `Run \`keystack secret register ${name} …\` again to complete it, or \`keystack secret delete ${name}\`.`);
}

function _noEnabledVersion(operation: string, name: string, e: unknown): Error {
  return backendFailure({ flavor: FLAVOR_NAME, operation, secretName: name }, e,
    'the latest version of the GCP secret is disabled or destroyed (FAILED_PRECONDITION)',
    'Enable it (gcloud secrets versions enable), or write a new value with `keystack secret update`.');
}

async function _connect(o: GcpFlavorOptions): Promise<SecretManagerServiceClient> {
  const { v1 } = await importLib(FLAVOR_NAME, '@google-cloud/secret-manager', () => import('@google-cloud/secret-manager'));
  // universeDomain set explicitly: otherwise the client asks the metadata server for it.
  const base = { projectId: o.project_id, universeDomain: 'googleapis.com' };
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- credentials_file is the user's own service-account key file (ZenML's option); the deprecation is about key files from untrusted sources
  if (!o.api_endpoint) return new v1.SecretManagerServiceClient({ ...base, ...(o.credentials_file ? { keyFilename: o.credentials_file } : {}) });
  const { host, port, loopback } = parseEndpoint(FLAVOR_NAME, o.api_endpoint);
  if (!loopback) {
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- credentials_file is the user's own service-account key file (ZenML's option); the deprecation is about key files from untrusted sources
    return new v1.SecretManagerServiceClient({ ...base, apiEndpoint: host, port, ...(o.credentials_file ? { keyFilename: o.credentials_file } : {}) });
  }
  const grpc = await importLib(FLAVOR_NAME, '@grpc/grpc-js', () => import('@grpc/grpc-js'));
  // An emulator: plain text and no credentials, so nothing asks for a token.
  return new v1.SecretManagerServiceClient({ ...base, apiEndpoint: host.replace(/^\[|\]$/g, ''), port, sslCreds: grpc.credentials.createInsecure() });
}

/** GCP label values: lowercase letters, digits, `_` and `-`, at most 63 characters. */
export function _labelValue(v: string): string {
  return v.toLowerCase().replace(/[^a-z0-9_-]/g, '_').slice(0, 63);
}

function _labels(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, _labelValue(v)]));
}

/** Throttling is retried; auth, quota and connectivity failures get a next step. */
const CLASSIFY = grpcClassifier({
  service: 'the Secret Manager API',
  accessHint: 'Check GOOGLE_APPLICATION_CREDENTIALS / credentials_file, and that the account has roles/secretmanager.admin (or secretAccessor + secretVersionAdder for read/write) on the project.',
  quotaHint: 'Wait and retry, or raise the Secret Manager quota of the project.',
  unreachableHint: 'Check api_endpoint and the network; for an emulator, check that it is running.',
});
