/**
 * Backend requests per operation for the aws flavor, counted by a proxy in front of moto.
 *   AWS_SM_ENDPOINT=http://127.0.0.1:4566 npx tsx bench/calls-aws.ts
 * Prints one JSON line.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import aws from '../src/flavors/aws.js';
import { SecretsManager } from '../src/flavors/manager.js';
import type { FlavorDefinition } from '../src/flavors/types.js';
import { createSchemaRegistry } from '../src/secrets/schema.js';
import { counted, countingProxy } from './count-proxy.js';

const endpoint = process.env['AWS_SM_ENDPOINT'];
if (!endpoint) throw new Error('set AWS_SM_ENDPOINT to a moto server (scripts/emulators/start.sh writes it)');
const proxy = await countingProxy(endpoint);
const configDir = mkdtempSync(join(tmpdir(), 'keystack-bench-'));
const schemas = createSchemaRegistry();
const env = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };
const manager = () =>
  new SecretsManager({
    record: { uuid: randomUUID(), name: 'bench', flavor: 'aws', config: { region_name: 'us-east-1', endpoint_url: proxy.url, scope: 'component' } },
    flavor: aws as FlavorDefinition<unknown>,
    configDir,
    env,
    schemas,
  });
const name = () => `b${randomBytes(6).toString('hex')}`;
const fill = async (m: SecretsManager, n: number) => {
  const names = Array.from({ length: n }, name);
  for (let i = 0; i < n; i += 25) await Promise.all(names.slice(i, i + 25).map((x) => m.register(x, { k: 'v' })));
};

const m = manager();
const s = name();
const out: Record<string, unknown> = { flavor: 'aws' };
out['register'] = await counted(proxy, () => m.register(s, { user: 'u', password: 'p' }));
out['get'] = await counted(proxy, () => m.get(s));
out['update'] = await counted(proxy, () => m.update(s, { user: 'u', password: 'q' }, { schema: 'arbitrary' }));
out['update_schema_unknown'] = await counted(proxy, () => m.update(s, { user: 'u', password: 'r' }));
out['patch'] = await counted(proxy, () => m.patch(s, { set: { password: 's' } }));
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
await Promise.all([m, dm].map((x) => x.close()));
await proxy.close();
