/**
 * The backends of the interop tier. Each points ZenML's manager (through zenml_driver.py) and
 * keystack's flavor at the same server, and reads the raw objects both write. Adding one: a
 * function here, a `make_<id>` in zenml_driver.py and a zenml-<id>.test.ts calling
 * describeZenmlInterop.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretClient } from '@azure/keyvault-secrets';
import { v1 } from '@google-cloud/secret-manager';
import * as grpc from '@grpc/grpc-js';
import aws from '../../src/flavors/aws.js';
import azure from '../../src/flavors/azure.js';
import gcp from '../../src/flavors/gcp.js';
import vault from '../../src/flavors/vault.js';
import { scopedName } from '../../src/secrets/scope.js';
import type { InteropBackend } from './harness.js';

const REGION = 'us-east-1';

export function awsBackend(): InteropBackend {
  const endpoint = process.env['AWS_SM_ENDPOINT'];
  let client: SecretsManagerClient | undefined;
  const raw = () =>
    (client ??= new SecretsManagerClient({
      endpoint: endpoint ?? '',
      region: REGION,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    }));
  return {
    id: 'aws',
    flavor: aws,
    unavailable: () => (endpoint ? null : 'AWS_SM_ENDPOINT is not set (moto is not running)'),
    connection: () => ({ endpoint, region: REGION }),
    keystackConfig: () => ({ region_name: REGION, endpoint_url: endpoint }),
    keystackEnv: () => ({ AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' }),
    async raw(scope, name) {
      const id = scopedName(scope, name, '/');
      try {
        const v = await raw().send(new GetSecretValueCommand({ SecretId: id }));
        const d = await raw().send(new DescribeSecretCommand({ SecretId: id }));
        return {
          id,
          payload: JSON.parse(v.SecretString ?? 'null') as Record<string, unknown>,
          labels: Object.fromEntries((d.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
        };
      } catch (e) {
        if ((e as { name?: string }).name === 'ResourceNotFoundException') return null;
        throw e;
      }
    },
    skipScopes: {
      // ZenML lists unscoped AWS secrets with the filter tag-key=!zenml_scope and checks every
      // get/update/delete against that list; moto's negated tag filter never matches an untagged
      // secret (moto/secretsmanager/list_secrets/filters.py: tag_key() is False without tags), so
      // on moto ZenML's `none` scope finds nothing, not even what it wrote itself.
      none: "moto cannot filter untagged secrets with a negated tag filter (tag-key=!zenml_scope), which ZenML's `none` scope lists with before every get, update and delete",
    },
    namespace: (r) => `team.${r}`,
    secretName: (base) => `${base}.v1`,
    // AWS limits the whole secret name (scope path included) to 512 characters.
    longName: (scope) => 512 - scopedName(scope, '', '/').length,
    close: () => client?.destroy(),
  };
}

export function vaultBackend(): InteropBackend {
  const url = process.env['BAO_ADDR'];
  const token = process.env['BAO_TOKEN'] ?? 'root';
  return {
    id: 'vault',
    flavor: vault,
    unavailable: () => (url ? null : 'BAO_ADDR is not set (OpenBao is not running)'),
    connection: () => ({ url, token, mount_point: 'secret' }),
    keystackConfig: () => ({ url, mount_point: 'secret' }),
    keystackEnv: () => ({ VAULT_TOKEN: token }),
    async raw(scope, name) {
      const id = scopedName(scope, name, '/');
      const r = await fetch(`${url ?? ''}/v1/secret/data/${id.split('/').map(encodeURIComponent).join('/')}`, {
        headers: { 'x-vault-token': token },
      });
      if (r.status === 404) return null;
      if (!r.ok) throw new Error(`vault GET ${id}: HTTP ${r.status}`);
      const body = (await r.json()) as { data?: { data?: Record<string, unknown> } };
      return { id, payload: body.data?.data ?? {}, labels: null };
    },
    namespace: (r) => `team.${r}`,
    secretName: (base) => `${base}.v1`,
    // Vault puts no small limit on KV paths; 400 is past every limit keystack used to apply.
    longName: () => 400,
  };
}

/**
 * ZenML's `none` scope on gcp and azure is its legacy per-key layout (one backend object per key),
 * which keystack reads as one read-only secret per group and does not write: that direction is
 * covered by zenml-none-scope.test.ts instead of the matrix.
 */
const PER_KEY_NONE =
  "ZenML's none scope stores one backend object per key; keystack reads such groups read-only and writes its own none-scope secrets as one object (see zenml-none-scope.test.ts)";

export function gcpBackend(): InteropBackend {
  const endpoint = process.env['GSM_GRPC'];
  // A project of its own: the shared emulator keeps what other files wrote.
  const project = `zenml-interop-${randomBytes(3).toString('hex')}`;
  let client: InstanceType<typeof v1.SecretManagerServiceClient> | undefined;
  const raw = () => {
    const [host = '', port = ''] = (endpoint ?? '').split(':');
    return (client ??= new v1.SecretManagerServiceClient({
      apiEndpoint: host,
      port: Number(port),
      sslCreds: grpc.credentials.createInsecure(),
      universeDomain: 'googleapis.com',
      projectId: project,
    }));
  };
  return {
    id: 'gcp',
    flavor: gcp,
    unavailable: () => (endpoint ? null : 'GSM_GRPC is not set (no GCP Secret Manager emulator or double is running)'),
    connection: () => ({ endpoint, project_id: project }),
    keystackConfig: () => ({ project_id: project, api_endpoint: endpoint }),
    keystackEnv: () => ({ METADATA_SERVER_DETECTION: 'none' }),
    async raw(scope, name) {
      const id = scopedName(scope, name, '-');
      try {
        const [s] = await raw().getSecret({ name: `projects/${project}/secrets/${id}` });
        const [v] = await raw().accessSecretVersion({ name: `projects/${project}/secrets/${id}/versions/latest` });
        const payload = JSON.parse(Buffer.from(v.payload?.data ?? []).toString('utf8')) as Record<string, unknown>;
        return { id, payload, labels: { ...(s.labels ?? {}) } };
      } catch (e) {
        if ((e as { code?: number }).code === grpc.status.NOT_FOUND) return null;
        throw e;
      }
    },
    skipScopes: { none: PER_KEY_NONE },
    // GCP names are also label values: lowercase, digits, - and _, no '.'.
    namespace: (r) => `team_${r}`,
    secretName: (base) => base,
    longName: () => 63,
    close: () => client?.close(),
  };
}

export function azureBackend(): InteropBackend {
  const url = process.env['AKV_URL'];
  const caFile = process.env['NODE_EXTRA_CA_CERTS'];
  const token = 'emulator';
  let client: SecretClient | undefined;
  const raw = () =>
    (client ??= new SecretClient(
      url ?? '',
      { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3.6e6 }) },
      {
        serviceVersion: '2025-07-01',
        disableChallengeResourceVerification: true,
        ...(caFile ? { tlsOptions: { ca: readFileSync(caFile) } } : {}),
      },
    ));
  return {
    id: 'azure',
    flavor: azure,
    unavailable: () =>
      url && caFile ? null : 'AKV_URL / NODE_EXTRA_CA_CERTS are not set (no Key Vault emulator or double is running)',
    connection: () => ({ vault_url: url, token, ca_file: caFile }),
    keystackConfig: () => ({ vault_url: url, access_token: token }),
    keystackEnv: () => ({ NODE_EXTRA_CA_CERTS: caFile ?? '' }),
    async raw(scope, name) {
      const id = scopedName(scope, name, '-');
      try {
        const s = await raw().getSecret(id);
        return {
          id,
          payload: JSON.parse(s.value ?? 'null') as Record<string, unknown>,
          labels: { ...(s.properties.tags ?? {}) },
        };
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode === 404) return null;
        throw e;
      }
    },
    versionLabel: 'zenml_base',
    skipScopes: { none: PER_KEY_NONE },
    // Key Vault names: letters, digits and - only.
    namespace: (r) => `team-${r}`,
    secretName: (base) => base.replace(/_/g, '-'),
    // ZenML's azure manager takes names of up to 100 characters (keystack: Key Vault's 127 for
    // the whole vault name, scope path included).
    longName: (scope) => Math.min(100, 127 - scopedName(scope, '', '-').length),
  };
}
