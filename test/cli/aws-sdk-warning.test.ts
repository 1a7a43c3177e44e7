/**
 * The AWS SDK's multi-line Node-version warning (Node < 22) stays out of keystack's output
 * (src/support/aws-sdk.ts: the SDK's own switch, set only while a client is built).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, cliAsync, tempEnv } from '../support/cli.js';

const SDK_WARNING = /AWS SDK for JavaScript|NodeVersionSupportWarning|NodeDeprecationWarning/;

// A Secrets Manager endpoint with no secrets: every call answers ListSecrets' empty page.
let server: Server;
let endpoint = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end('{"SecretList":[]}');
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((res) => server.close(() => res())));

function awsManager() {
  const e = tempEnv({ AWS_ACCESS_KEY_ID: 'AKIAWARNTEST', AWS_SECRET_ACCESS_KEY: 'warn-test-secret-key' });
  const reg = cli(e, [
    'secrets-manager',
    'register',
    'aws_sm',
    '--flavor=aws',
    '--region_name=us-east-1',
    `--endpoint_url=${endpoint}`,
  ]);
  expect(reg.status, reg.stderr).toBe(0);
  const stack = cli(e, ['stack', 'register', 'cloud', '-x', 'aws_sm', '--set']);
  expect(stack.status, stack.stderr).toBe(0);
  return e;
}

describe("the AWS SDK's Node-version warning", () => {
  it('is not in the stderr of an aws command', async () => {
    const e = awsManager();
    const r = await cliAsync(e, ['secret', 'list']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(SDK_WARNING);
    expect(r.stderr.trim()).toMatch(/^No secrets in secrets manager 'aws_sm'/);
  });
});
