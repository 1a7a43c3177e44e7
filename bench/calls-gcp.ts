/**
 * Backend calls per operation for the gcp flavor, counted at the client: every RPC the flavor
 * makes through the SDK (retries included). Needs GSM_GRPC (the emulator or the in-repo double).
 *
 *   GSM_GRPC=127.0.0.1:9090 METADATA_SERVER_DETECTION=none npx tsx bench/calls-gcp.ts
 */
import { v1 } from '@google-cloud/secret-manager';
import { randomBytes, randomUUID } from 'node:crypto';
import gcp from '../src/flavors/gcp.js';
import { SecretsManager } from '../src/core/manager.js';
import { createSchemaRegistry } from '../src/secrets/schema.js';
import { measureCalls, tally } from './measure-calls.js';

const endpoint = process.env['GSM_GRPC'];
if (!endpoint) throw new Error('GSM_GRPC is not set (see scripts/emulators/start.sh)');

// grpc-js binds its request functions when a stub class is made, so the count wraps the SDK's
// RPC methods instead; the flavor turns the SDK's own retries off, so one call is one request.
const requests = tally();
const proto = v1.SecretManagerServiceClient.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
for (const rpc of [
  'createSecret',
  'addSecretVersion',
  'accessSecretVersion',
  'getSecret',
  'listSecrets',
  'deleteSecret',
  'updateSecret',
]) {
  const original = proto[rpc]!;
  proto[rpc] = function (this: unknown, ...a: unknown[]) {
    requests.hit();
    return original.apply(this, a);
  };
}

// A project per manager UUID, because the emulator ignores list filters: a list then sees only
// what the measurement itself created, as GCP's server-side filter would.
const projects = new Map<string, string>();
const project = (uuid: string) =>
  projects.get(uuid) ?? (projects.set(uuid, `bench-${randomBytes(4).toString('hex')}`), projects.get(uuid)!);
const manager = (uuid: string = randomUUID()) =>
  new SecretsManager({
    record: { uuid, name: 'bench', flavor: 'gcp', config: { project_id: project(uuid), api_endpoint: endpoint } },
    flavor: gcp,
    configDir: '/nonexistent',
    env: { ...process.env, METADATA_SERVER_DETECTION: 'none' },
    schemas: createSchemaRegistry(),
  });

const out = await measureCalls({
  flavor: 'gcp',
  manager,
  count: requests.count,
  warm: (m) => m.list(), // connect outside the measurements
});
console.log(JSON.stringify(out));
