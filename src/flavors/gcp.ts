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
 * Versions, repair of an interrupted register and compare-and-set are in gcp-cas.ts.
 */
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { decodeContent, type StoredSecret } from '../secrets/content.js';
import type { NameRule } from '../secrets/names.js';
import { scopeMetadata, secretMetadata } from '../secrets/scope.js';
import { gcpVersions, incomplete, payloadText } from './gcp-cas.js';
import { GrpcCode as G, grpcClassifier, grpcCode as _code, parseEndpoint } from './shared/grpc.js';
import { allPages, deleteEach } from '../core/kit.js';
import { backendFailure } from '../support/scrub.js';
import { createCaller } from '../support/caller.js';
import { importLib } from '../support/optional-import.js';
import { reservedInNone, reservedNameError, taggedName, validUnder } from './shared/tags.js';
import { defineFlavor, type FlavorContext, type SecretsBackend } from '../core/types.js';
import {
  assembleGroup,
  decodeOwn,
  GROUP_KEY,
  GROUP_SCHEMA,
  withPayloads,
  withZenmlGroups,
  type GroupWording,
} from './shared/zenml-groups.js';

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
const validName = validUnder(NAME_RULE);
const PAGE_SIZE = 100;
const DELETE_CONCURRENCY = 8;
const GROUPS: GroupWording = {
  flavor: FLAVOR_NAME,
  object: 'GCP secret',
  cleanup: 'delete the per-key secrets with gcloud',
};

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
    credentials_file: {
      type: 'string',
      description: 'service-account key file (default: ADC)',
      sensitive: true,
      env: 'GOOGLE_APPLICATION_CREDENTIALS',
    },
  },
  dependencies: { '@google-cloud/secret-manager': '~6.3.0', '@grpc/grpc-js': '~1.14.7' },
  create: (ctx) => createGcpBackend(ctx),
});

function createGcpBackend(ctx: FlavorContext<GcpFlavorOptions>): SecretsBackend {
  const { scope } = ctx;
  const P = scope.prefix;
  const parent = `projects/${ctx.config.project_id}`;
  const secretPath = (name: string) => `${parent}/secrets/${ctx.names.full(name)}`;
  const schemaLabel = `${P}_secret_schema`;
  let client: Promise<SecretManagerServiceClient> | undefined;
  const sm = () => (client ??= _connect(ctx.config));
  // Our own retry of throttling only; the SDK's retries are off so calls are counted and bounded.
  const caller = createCaller({ flavor: FLAVOR_NAME, env: ctx.env, classify: CLASSIFY });
  const call = async <T>(
    op: string,
    name: string | undefined,
    fn: (c: SecretManagerServiceClient) => Promise<T>,
  ): Promise<T> => {
    const c = await sm();
    return caller.run(op, name, () => fn(c));
  };
  const none = scope.scope === 'none';
  const reserved = (name: string) => reservedInNone(scope, name, '-');
  const nameOf = (id: string, labels: Record<string, string>) =>
    taggedName(scope, ctx.names, id, labels, '-', validName);
  const OPTS = { retry: null, timeout: caller.limits.requestTimeoutMs } as const;
  /** Labels a keystack write sets: the scope's, plus the schema (also in `none` scope, where it marks keystack's own). */
  const labelsFor = (name: string, schema: string, current: Record<string, string> = {}) => ({
    ...current,
    ..._labels(secretMetadata(scope, name, schema)),
    [schemaLabel]: _labelValue(schema),
  });

  const listRaw = (filter: string) =>
    allPages(async (pageToken = '') => {
      const [secrets, , res] = await call('list', undefined, (c) =>
        c.listSecrets({ parent, filter, pageSize: PAGE_SIZE, pageToken }, { ...OPTS, autoPaginate: false }),
      );
      const items = secrets.map((s) => ({
        id: s.name?.slice(s.name.lastIndexOf('/') + 1) ?? '',
        labels: s.labels ?? {},
      }));
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the raw page response is typed as always there; if a backend leaves it out the listing ends instead of throwing
      return { items, next: res?.nextPageToken };
    });

  /** This scope's own secrets, and (in `none` scope) ZenML's per-key groups. */
  const scan = async (): Promise<{ own: string[]; groups: Set<string> }> => {
    const filter = none
      ? `NOT labels.${P}_scope:*`
      : Object.entries(scopeMetadata(scope))
          .map(([k, v]) => `labels.${k}=${v}`)
          .join(' AND ');
    const own: string[] = [];
    const groups = new Set<string>();
    const unmarked: string[] = [];
    for (const { id, labels } of await listRaw(filter)) {
      const group = none ? labels[GROUP_KEY] : undefined;
      if (group !== undefined) {
        if (validName(group)) groups.add(group);
        continue;
      }
      const name = nameOf(id, labels);
      if (name !== null && !(none && 'zenml_scope' in labels))
        (!none || schemaLabel in labels ? own : unmarked).push(name);
    }
    own.push(...(await withPayloads(unmarked, DELETE_CONCURRENCY, readable)));
    return { own, groups };
  };
  const readable = async (id: string): Promise<boolean> => {
    try {
      const [v] = await call('list', id, (c) =>
        c.accessSecretVersion({ name: `${parent}/secrets/${id}/versions/latest` }, OPTS),
      );
      decodeContent(payloadText(v.payload?.data), P);
      return true;
    } catch (e) {
      if (
        _code(e) === G.NOT_FOUND ||
        _code(e) === G.FAILED_PRECONDITION ||
        e instanceof SyntaxError ||
        e instanceof TypeError
      )
        return false;
      throw e;
    }
  };

  /** ZenML's per-key group `name`, assembled, or null when there is none. */
  const membersOf = async (name: string) =>
    (await listRaw(`labels.${GROUP_KEY}=${name}`)).filter((m) => m.labels[GROUP_KEY] === name);
  const readGroup = async (name: string): Promise<StoredSecret | null> => {
    const members = await membersOf(name);
    if (members.length === 0) return null;
    const keyed = members.map((m) => {
      const key = m.id.startsWith(`${name}_`) ? m.id.slice(name.length + 1) : '';
      if (key === '')
        throw backendFailure(
          { flavor: FLAVOR_NAME, operation: 'get', secretName: name },
          new Error(`per-key secret '${m.id}' is not named '${name}_<key>'`),
        );
      return { id: m.id, key };
    });
    return assembleGroup(keyed, members[0]?.labels[GROUP_SCHEMA], keyed.length, async (id) =>
      payloadText(
        (
          await call('get', name, (c) =>
            c.accessSecretVersion({ name: `${parent}/secrets/${id}/versions/latest` }, OPTS),
          )
        )[0].payload?.data,
      ),
    );
  };

  const v = gcpVersions({
    call,
    path: secretPath,
    labelsFor,
    owns: (name, labels) => none || nameOf(ctx.names.full(name), labels) === name,
    prefix: P,
    opts: OPTS,
  });

  const backend: SecretsBackend = {
    async create(name, secret) {
      if (reserved(name)) throw reservedNameError(scope, name);
      const labels = labelsFor(name, secret.schema);
      try {
        await call('register', name, (c) =>
          c.createSecret(
            { parent, secretId: ctx.names.full(name), secret: { labels, replication: { automatic: {} } } },
            OPTS,
          ),
        );
      } catch (e) {
        if (_code(e) === G.ALREADY_EXISTS) return v.repair(name, secret);
        throw e;
      }
      try {
        await v.addVersion('register', name, secret);
      } catch (e) {
        // A secret without a version blocks the name: remove it (a crash here is repaired by the next register).
        await call('register', name, (c) => c.deleteSecret({ name: secretPath(name) }, OPTS)).catch(() => undefined);
        throw e;
      }
      return true;
    },
    async get(name) {
      if (reserved(name)) return null;
      const latest = await v.latest('get', name);
      if (latest)
        return decodeOwn(FLAVOR_NAME, name, latest.text, P, 'the latest version', async () =>
          none ? (await v.getMeta('get', name))?.labels[GROUP_KEY] : undefined,
        );
      // Absent (or ZenML's per-key group), or a secret whose register was interrupted (list shows it).
      if (await v.getMeta('get', name)) throw incomplete('get', name);
      return null;
    },
    async list() {
      const { own, groups } = await scan();
      return [...own, ...groups];
    },
    update: async (name, secret) => !reserved(name) && v.update(name, secret),
    read: (name) => (reserved(name) ? Promise.resolve(null) : v.read(name)),
    replaceIf: (name, secret, version) => v.replaceIf(name, secret, version),
    async delete(name) {
      if (reserved(name)) return false;
      try {
        await call('delete', name, (c) => c.deleteSecret({ name: secretPath(name) }, OPTS));
        return true;
      } catch (e) {
        if (_code(e) !== G.NOT_FOUND) throw e;
      }
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
  return none
    ? withZenmlGroups(backend, {
        wording: GROUPS,
        exists: async (n) => (await membersOf(n)).length > 0,
        read: readGroup,
      })
    : backend;
}

async function _connect(o: GcpFlavorOptions): Promise<SecretManagerServiceClient> {
  const { v1 } = await importLib(
    FLAVOR_NAME,
    '@google-cloud/secret-manager',
    () => import('@google-cloud/secret-manager'),
  );
  // universeDomain set explicitly: otherwise the client asks the metadata server for it.
  const base = { projectId: o.project_id, universeDomain: 'googleapis.com' };
  if (!o.api_endpoint)
    return new v1.SecretManagerServiceClient({
      ...base,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- credentials_file is the user's own service-account key file (ZenML's option); the deprecation is about key files from untrusted sources
      ...(o.credentials_file ? { keyFilename: o.credentials_file } : {}),
    });
  const { host, port, loopback } = parseEndpoint(FLAVOR_NAME, o.api_endpoint);
  if (!loopback) {
    return new v1.SecretManagerServiceClient({
      ...base,
      apiEndpoint: host,
      port,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- credentials_file is the user's own service-account key file (ZenML's option); the deprecation is about key files from untrusted sources
      ...(o.credentials_file ? { keyFilename: o.credentials_file } : {}),
    });
  }
  const grpc = await importLib(FLAVOR_NAME, '@grpc/grpc-js', () => import('@grpc/grpc-js'));
  // An emulator: plain text and no credentials, so nothing asks for a token.
  return new v1.SecretManagerServiceClient({
    ...base,
    apiEndpoint: host.replace(/^\[|\]$/g, ''),
    port,
    sslCreds: grpc.credentials.createInsecure(),
  });
}

/** GCP label values: lowercase letters, digits, `_` and `-`, at most 63 characters. */
export function _labelValue(v: string): string {
  return v
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '_')
    .slice(0, 63);
}

function _labels(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, _labelValue(v)]));
}

/** Throttling is retried; auth, quota and connectivity failures get a next step. */
const CLASSIFY = grpcClassifier({
  service: 'the Secret Manager API',
  accessHint:
    'Check GOOGLE_APPLICATION_CREDENTIALS / credentials_file, and that the account has roles/secretmanager.admin (or secretAccessor + secretVersionAdder for read/write) on the project.',
  quotaHint: 'Wait and retry, or raise the Secret Manager quota of the project.',
  unreachableHint: 'Check api_endpoint and the network; for an emulator, check that it is running.',
});
