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
 * Versioned writes, repair of an interrupted register and compare-and-set are in gcp-cas.ts; listing,
 * reading and retiring versions in gcp-versions.ts.
 */
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import type { NameRule } from '../secrets/names.js';
import { secretMetadata } from '../secrets/scope.js';
import { gcpVersions, incomplete } from './gcp-cas.js';
import { gcpListing } from './gcp-listing.js';
import { gcpVersionOps } from './gcp-versions.js';
import { GrpcCode as G, grpcCode as _code } from './shared/grpc.js';
import { CLASSIFY, connect, type GcpFlavorOptions } from './gcp-client.js';
import { deleteEach } from '../core/kit.js';
import { reservedInNone, reservedNameError, taggedName, validUnder } from './shared/tags.js';
import { defineFlavor, type Connection, type FlavorContext, type SecretsBackend } from '../core/types.js';
import { decodeOwn, GROUP_KEY, withZenmlGroups, type GroupWording } from './shared/zenml-groups.js';

export const FLAVOR_NAME = 'gcp';
export type { GcpFlavorOptions } from './gcp-client.js';

const NAME_RULE: NameRule = {
  pattern: /[a-z0-9_-]+/,
  maxLength: 63,
  description: 'must contain only lowercase letters, digits, - and _ (it is also a GCP label value)',
};
const validName = validUnder(NAME_RULE);
const DELETE_CONCURRENCY = 8;
const GROUPS: GroupWording = {
  flavor: FLAVOR_NAME,
  object: 'GCP secret',
  cleanup: 'delete the per-key secrets with gcloud',
};

export default defineFlavor<GcpFlavorOptions, SecretManagerServiceClient>({
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
  connect: (ctx) => connect(ctx.config),
  classify: CLASSIFY,
  disconnect: (client) => client.close(),
  operations: gcpOperations,
});

function gcpOperations(
  conn: Connection<SecretManagerServiceClient>,
  ctx: FlavorContext<GcpFlavorOptions>,
): SecretsBackend {
  const { scope } = ctx;
  const P = scope.prefix;
  const parent = `projects/${ctx.config.project_id}`;
  const secretPath = (name: string) => `${parent}/secrets/${ctx.names.full(name)}`;
  const schemaLabel = `${P}_secret_schema`;

  const none = scope.scope === 'none';
  const reserved = (name: string) => reservedInNone(scope, name, '-');
  const nameOf = (id: string, labels: Record<string, string>) =>
    taggedName(scope, ctx.names, id, labels, '-', validName);
  // The core's caller retries throttling; the SDK's retries are off so calls are counted and bounded.
  const OPTS = { retry: null, timeout: conn.caller.limits.requestTimeoutMs } as const;
  /** Labels a keystack write sets: the scope's, plus the schema (also in `none` scope, where it marks keystack's own). */
  const labelsFor = (name: string, schema: string, current: Record<string, string> = {}) => ({
    ...current,
    ..._labels(secretMetadata(scope, name, schema)),
    [schemaLabel]: _labelValue(schema),
  });

  const { scan, membersOf, readGroup } = gcpListing({ conn, ctx, opts: OPTS, nameOf, validName });

  const v = gcpVersions({
    call: conn.call,
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
        await conn.call('register', name, (c) =>
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
        await conn
          .call('register', name, (c) => c.deleteSecret({ name: secretPath(name) }, OPTS))
          .catch(() => undefined);
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
    ...gcpVersionOps({ call: conn.call, path: secretPath, reserved, prefix: P, opts: OPTS }),
    async delete(name) {
      if (reserved(name)) return false;
      try {
        await conn.call('delete', name, (c) => c.deleteSecret({ name: secretPath(name) }, OPTS));
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
  };
  return none
    ? withZenmlGroups(backend, {
        wording: GROUPS,
        exists: async (n) => (await membersOf(n)).length > 0,
        read: readGroup,
      })
    : backend;
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
