/**
 * Backend calls per operation for the azure flavor, counted at the client: every HTTPS request the
 * process sends (the SDK's own retries are off in the flavor; keystack's 429 retries would count).
 * Needs AKV_URL and NODE_EXTRA_CA_CERTS (Lowkey Vault or the in-repo double).
 *
 *   AKV_URL=https://localhost:8443 NODE_EXTRA_CA_CERTS=… npx tsx bench/calls-azure.ts
 *
 * Key Vault cannot filter by tag on the server, so a list reads the whole vault: `vault_extra` is
 * how many secrets the vault held besides the measured ones (0 on a fresh server).
 */
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import { randomUUID } from 'node:crypto';
import { SecretClient } from '@azure/keyvault-secrets';
import azure from '../src/flavors/azure.js';
import { SecretsManager } from '../src/core/manager.js';
import { createSchemaRegistry } from '../src/secrets/schema.js';
import { measureCalls, tally } from './measure-calls.js';

const url = process.env['AKV_URL'];
if (!url) throw new Error('AKV_URL is not set (see scripts/emulators/start.sh)');

const requests = tally();
const original = https.request;
https.request = ((...a: Parameters<typeof https.request>) => {
  requests.hit();
  return original(...a);
}) as typeof https.request;
syncBuiltinESMExports();

const manager = (uuid: string = randomUUID()) =>
  new SecretsManager({
    record: { uuid, name: 'bench', flavor: 'azure', config: { vault_url: url, access_token: 'emulator' } },
    flavor: azure,
    configDir: '/nonexistent',
    env: {},
    schemas: createSchemaRegistry(),
  });

const raw = new SecretClient(
  url,
  { getToken: async () => ({ token: 'emulator', expiresOnTimestamp: Date.now() + 3.6e6 }) },
  { serviceVersion: '2025-07-01', disableChallengeResourceVerification: true },
);
let extra = 0;
for await (const _ of raw.listPropertiesOfSecrets()) extra++;

const out = await measureCalls({
  flavor: 'azure',
  manager,
  count: requests.count,
  // The bearer challenge (one 401 round trip per client) happens here, outside the measurements.
  warm: (m) => m.list(),
});
out['vault_extra'] = extra;
console.log(JSON.stringify(out));
