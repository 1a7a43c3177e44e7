/**
 * Backend calls per operation for the gcp flavor, counted at the client: every RPC the flavor
 * makes through the SDK (retries included). Needs GSM_GRPC (the emulator or the in-repo double).
 *
 *   GSM_GRPC=127.0.0.1:9090 METADATA_SERVER_DETECTION=none npx tsx bench/calls-gcp.ts
 */
import { v1 } from '@google-cloud/secret-manager';
import { randomBytes, randomUUID } from 'node:crypto';
import gcp from '../src/flavors/gcp.js';
import { SecretsManager } from '../src/flavors/manager.js';
import { createSchemaRegistry } from '../src/secrets/schema.js';

const endpoint = process.env['GSM_GRPC'];
if (!endpoint) throw new Error('GSM_GRPC is not set (see scripts/emulators/start.sh)');

// grpc-js binds its request functions when a stub class is made, so the count wraps the SDK's
// RPC methods instead; the flavor turns the SDK's own retries off, so one call is one request.
let calls = 0;
const proto = v1.SecretManagerServiceClient.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
for (const rpc of ['createSecret', 'addSecretVersion', 'accessSecretVersion', 'getSecret', 'listSecrets', 'deleteSecret', 'updateSecret']) {
  const original = proto[rpc]!;
  proto[rpc] = function (this: unknown, ...a: unknown[]) {
    calls++;
    return original.apply(this, a);
  };
}

// A fresh project per manager, because the emulator ignores list filters: a list then sees only
// what the measurement itself created, as GCP's server-side filter would.
const manager = () =>
  new SecretsManager({
    record: { uuid: randomUUID(), name: 'bench', flavor: 'gcp', config: { project_id: `bench-${randomBytes(4).toString('hex')}`, api_endpoint: endpoint } },
    flavor: gcp,
    configDir: '/nonexistent',
    env: { ...process.env, METADATA_SERVER_DETECTION: 'none' },
    schemas: createSchemaRegistry(),
  });

async function count(fn: () => Promise<unknown>): Promise<number> {
  calls = 0;
  await fn();
  return calls;
}

async function fill(m: SecretsManager, n: number): Promise<void> {
  for (let i = 0; i < n; i += 20) {
    await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, j) => m.register(`s${i + j}`, { k: 'v' })));
  }
}

const m = manager();
await m.list(); // connect outside the measurements
const out: Record<string, string | number> = { flavor: 'gcp' };
out['register'] = await count(() => m.register('one', { user: 'u', password: 'p' }));
out['get'] = await count(() => m.get('one'));
out['update'] = await count(() => m.update('one', { user: 'u2' }, { schema: 'arbitrary' }));
out['patch'] = await count(() => m.patch('one', { set: { password: 'p2' } }));
for (const n of [100, 250]) {
  const lm = manager();
  await fill(lm, n);
  out[`list_${n}`] = await count(() => lm.list());
  await lm.deleteAll();
  await lm.close();
}
out['delete'] = await count(() => m.delete('one'));
await fill(m, 10);
out['delete_all_10'] = await count(() => m.deleteAll());
await m.close();
console.log(JSON.stringify(out));
