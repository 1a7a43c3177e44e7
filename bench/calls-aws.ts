/**
 * Backend requests per operation for the aws flavor, counted by a proxy in front of moto.
 *   AWS_SM_ENDPOINT=http://127.0.0.1:4566 npx tsx bench/calls-aws.ts
 * Prints one JSON line.
 */
import { randomUUID } from 'node:crypto';
import aws from '../src/flavors/aws.js';
import { SecretsManager } from '../src/core/manager.js';
import { createSchemaRegistry } from '../src/secrets/schema.js';
import { measureCalls } from './measure-calls.js';
import { counted, countingProxy } from './count-proxy.js';

const endpoint = process.env['AWS_SM_ENDPOINT'];
if (!endpoint) throw new Error('set AWS_SM_ENDPOINT to a moto server (scripts/emulators/start.sh writes it)');
const proxy = await countingProxy(endpoint);
const schemas = createSchemaRegistry();
const out = await measureCalls({
  flavor: 'aws',
  manager: (uuid = randomUUID()) =>
    new SecretsManager({
      record: {
        uuid,
        name: 'bench',
        flavor: 'aws',
        config: { region_name: 'us-east-1', endpoint_url: proxy.url, scope: 'component' },
      },
      flavor: aws,
      configDir: '/nonexistent',
      env: { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' },
      schemas,
    }),
  count: (fn) => counted(proxy, fn),
});
console.log(JSON.stringify(out));
await proxy.close();
