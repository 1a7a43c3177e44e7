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
import { SecretsManager } from '../src/flavors/manager.js';
import { createSchemaRegistry } from '../src/secrets/schema.js';

const url = process.env['AKV_URL'];
if (!url) throw new Error('AKV_URL is not set (see scripts/emulators/start.sh)');

let calls = 0;
const original = https.request;
https.request = ((...a: Parameters<typeof https.request>) => {
  calls++;
  return original(...a);
}) as typeof https.request;
syncBuiltinESMExports();

const manager = () =>
  new SecretsManager({
    record: { uuid: randomUUID(), name: 'bench', flavor: 'azure', config: { vault_url: url, access_token: 'bench' } },
    flavor: azure,
    configDir: '/nonexistent',
    env: {},
    schemas: createSchemaRegistry(),
  });

async function count(fn: () => Promise<unknown>): Promise<number> {
  calls = 0;
  await fn();
  return calls;
}

async function fill(m: SecretsManager, n: number): Promise<void> {
  for (let i = 0; i < n; i += 10) {
    await Promise.all(Array.from({ length: Math.min(10, n - i) }, (_, j) => m.register(`s${i + j}`, { k: 'v' })));
  }
}

const raw = new SecretClient(url, { getToken: async () => ({ token: 'x', expiresOnTimestamp: Date.now() + 3.6e6 }) }, { serviceVersion: '2025-07-01', disableChallengeResourceVerification: true });
let extra = 0;
for await (const _ of raw.listPropertiesOfSecrets()) extra++;

const m = manager();
await m.list(); // the bearer challenge (one 401 round trip per client) happens here, outside the measurements
const out: Record<string, string | number> = { flavor: 'azure' };
out['register'] = await count(() => m.register('one', { user: 'u', password: 'p' }));
out['get'] = await count(() => m.get('one'));
out['update'] = await count(() => m.update('one', { user: 'u2' }, { schema: 'arbitrary' }));
out['patch'] = await count(() => m.patch('one', { set: { password: 'p2' } }));
out['delete'] = await count(() => m.delete('one'));
for (const n of [100, 250]) {
  const lm = manager();
  await fill(lm, n);
  await lm.list();
  out[`list_${n}`] = await count(() => lm.list());
  await lm.deleteAll();
  await lm.close();
}
await fill(m, 10);
out['delete_all_10'] = await count(() => m.deleteAll());
out['vault_extra'] = extra;
await m.close();
console.log(JSON.stringify(out));
