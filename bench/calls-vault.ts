/**
 * Backend requests per operation for the vault flavor, counted by a proxy in front of OpenBao.
 *   BAO_ADDR=http://127.0.0.1:8200 BAO_TOKEN=root npx tsx bench/calls-vault.ts
 * Prints one JSON line.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vault from '../src/flavors/vault.js';
import { SecretsManager } from '../src/flavors/manager.js';
import type { FlavorDefinition } from '../src/flavors/types.js';
import { createSchemaRegistry } from '../src/secrets/schema.js';
import { counted, countingProxy } from './count-proxy.js';

const addr = process.env['BAO_ADDR'];
const token = process.env['BAO_TOKEN'] ?? process.env['VAULT_TOKEN'];
if (!addr || !token) throw new Error('set BAO_ADDR and BAO_TOKEN to an OpenBao dev server (scripts/emulators/start.sh writes them)');
const proxy = await countingProxy(addr);
const configDir = mkdtempSync(join(tmpdir(), 'keystack-bench-'));
const schemas = createSchemaRegistry();
const manager = (uuid: string = randomUUID()) =>
  new SecretsManager({
    record: { uuid, name: 'bench', flavor: 'vault', config: { url: proxy.url, scope: 'component' } },
    flavor: vault as FlavorDefinition<unknown>,
    configDir,
    env: { VAULT_TOKEN: token },
    schemas,
  });
const name = () => `b${randomBytes(6).toString('hex')}`;
const fill = async (m: SecretsManager, n: number) => {
  const names = Array.from({ length: n }, name);
  for (let i = 0; i < n; i += 25) await Promise.all(names.slice(i, i + 25).map((x) => m.register(x, { k: 'v' })));
};

const out: Record<string, unknown> = { flavor: 'vault' };
const uuid = randomUUID();
const m = manager(uuid);
const s = name();
out['register'] = await counted(proxy, () => m.register(s, { user: 'u', password: 'p' }));
out['get'] = await counted(proxy, () => m.get(s));
// A fresh manager has read nothing, so this is the cold path (metadata read + CAS write).
const cold = manager(uuid);
out['update'] = await counted(proxy, () => cold.update(s, { user: 'u', password: 'q' }, { schema: 'arbitrary' }));
out['update_schema_unknown'] = await counted(proxy, () => manager(uuid).update(s, { user: 'u', password: 'r' }));
out['patch'] = await counted(proxy, () => manager(uuid).patch(s, { set: { password: 's' } }));
out['delete'] = await counted(proxy, () => m.delete(s));
for (const n of [100, 250]) {
  const lm = manager();
  await fill(lm, n);
  out[`list_${n}`] = await counted(proxy, () => lm.list());
  await lm.deleteAll();
}
const dm = manager();
await fill(dm, 10);
out['delete_all_10'] = await counted(proxy, () => dm.deleteAll());
console.log(JSON.stringify(out));
await proxy.close();
