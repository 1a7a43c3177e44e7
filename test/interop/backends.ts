/**
 * The backends of the interop tier. Each points ZenML's manager (through zenml_driver.py) and
 * keystack's flavor at the same server, and reads the raw objects both write. Adding one: a
 * function here, a `make_<id>` in zenml_driver.py and a zenml-<id>.test.ts calling
 * describeZenmlInterop.
 */
import { DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import aws from '../../src/flavors/aws.js';
import vault from '../../src/flavors/vault.js';
import { scopedName } from '../../src/secrets/scope.js';
import type { InteropBackend } from './harness.js';

const REGION = 'us-east-1';

export function awsBackend(): InteropBackend {
  const endpoint = process.env['AWS_SM_ENDPOINT'];
  let client: SecretsManagerClient | undefined;
  const raw = () => (client ??= new SecretsManagerClient({ endpoint: endpoint ?? '', region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } }));
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
        return { id, payload: JSON.parse(v.SecretString ?? 'null') as Record<string, unknown>, labels: Object.fromEntries((d.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])) };
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
      const r = await fetch(`${url ?? ''}/v1/secret/data/${id.split('/').map(encodeURIComponent).join('/')}`, { headers: { 'x-vault-token': token } });
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
