/**
 * Backend requests per operation for the vault flavor, counted by a proxy in front of OpenBao.
 *   BAO_ADDR=http://127.0.0.1:8200 BAO_TOKEN=root npx tsx bench/calls-vault.ts
 * Prints one JSON line.
 */
import { randomUUID } from 'node:crypto';
import vault from '../src/flavors/vault.js';
import { SecretsManager } from '../src/core/manager.js';
import { createSchemaRegistry } from '../src/secrets/schema.js';
import { measureCalls } from './measure-calls.js';
import { counted, countingProxy } from './count-proxy.js';

const addr = process.env['BAO_ADDR'];
const token = process.env['BAO_TOKEN'] ?? process.env['VAULT_TOKEN'];
if (!addr || !token)
  throw new Error('set BAO_ADDR and BAO_TOKEN to an OpenBao dev server (scripts/emulators/start.sh writes them)');
const proxy = await countingProxy(addr);
const schemas = createSchemaRegistry();
const out = await measureCalls({
  flavor: 'vault',
  manager: (uuid = randomUUID()) =>
    new SecretsManager({
      record: { uuid, name: 'bench', flavor: 'vault', config: { url: proxy.url, scope: 'component' } },
      flavor: vault,
      configDir: '/nonexistent',
      env: { VAULT_TOKEN: token },
      schemas,
    }),
  count: (fn) => counted(proxy, fn),
  // A manager that has read nothing pays a metadata read before its check-and-set write.
  coldUpdate: true,
});
console.log(JSON.stringify(out));
await proxy.close();
