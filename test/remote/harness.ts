/**
 * Shared setup for the remote-stack tests: real Redis (KEYSTACK_TEST_REDIS_URL), OpenBao and
 * moto's S3, all started by the test script on loopback. Workers are `keystack worker`
 * processes, each with its own config directory and environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { BUILTIN_FLAVOR_LOADERS } from '../../src/core/registry.js';
import { addTrusted, ownKey } from '../../src/pipeline/remote/keys.js';
import { Keystack } from '../../src/stack/client.js';
import { componentFlavor } from '../../src/stack/components.js';
import { BIN } from '../support/cli.js';
import { requireEnv } from '../support/fake-http.js';

export const REDIS_URL = (): string => requireEnv('KEYSTACK_TEST_REDIS_URL', 'the Redis server');
export const BAO_ADDR = (): string => requireEnv('BAO_ADDR', 'the OpenBao dev server');
export const BAO_ROOT = (): string => requireEnv('BAO_TOKEN', 'the OpenBao dev server root token');
export const S3_ENDPOINT = (): string => requireEnv('AWS_SM_ENDPOINT', 'moto (its S3 API)');

/** What the keystack library is, for pipeline modules written outside the repository. */
export const LIB = resolve('dist/lib/index.js');

export const fresh = (p = 'ks'): string => `${p}${randomBytes(5).toString('hex')}`;

/** A code root holding `files` (path → content); `{{LIB}}` in a content is the library's path. */
export function codeRoot(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'keystack-code-'));
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), content.replaceAll('{{LIB}}', LIB));
  }
  return dir;
}

/** OpenBao's HTTP API with the root token (or another). */
export async function bao(
  method: string,
  path: string,
  body?: unknown,
  token = BAO_ROOT(),
): Promise<{ status: number; body: Record<string, unknown> | null }> {
  const r = await fetch(`${BAO_ADDR()}/v1/${path}`, {
    method,
    headers: { 'x-vault-token': token, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await r.text();
  return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

/** A token that may read exactly these KV v2 secrets (paths under secret/data/). */
export async function readOnlyToken(name: string, paths: readonly string[]): Promise<string> {
  const policy = paths.map((p) => `path "secret/data/${p}" { capabilities = ["read"] }`).join('\n');
  const put = await bao('PUT', `sys/policies/acl/${name}`, { policy });
  if (put.status >= 300) throw new Error(`policy ${name}: HTTP ${put.status}`);
  const t = await bao('POST', 'auth/token/create', { policies: [name], ttl: '1h' });
  const token = (t.body?.['auth'] as { client_token?: string } | undefined)?.client_token;
  if (!token) throw new Error(`token for ${name}: HTTP ${t.status}`);
  return token;
}

export async function createBucket(bucket: string): Promise<void> {
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const s3 = new S3Client({
    endpoint: S3_ENDPOINT(),
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  s3.destroy();
}

/** Puts raw bytes at `key` in `bucket` (moto), outside anything keystack wrote. */
export async function putObject(bucket: string, key: string, body: string): Promise<void> {
  const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
  const s3 = new S3Client({
    endpoint: S3_ENDPOINT(),
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  s3.destroy();
}

export async function listObjects(bucket: string, prefix: string): Promise<string[]> {
  const { S3Client, ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const s3 = new S3Client({
    endpoint: S3_ENDPOINT(),
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = r.NextContinuationToken;
  } while (token);
  s3.destroy();
  return keys.sort();
}

export interface WorkerProcess {
  proc: ChildProcess;
  name: string;
  /** Its own config directory (its keys, nonce record and registered components). */
  configDir: string;
  log(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  /** SIGTERM and wait. */
  stop(): Promise<number | string>;
}

const BASE_ENV = (): Record<string, string> => ({
  PATH: process.env['PATH'] ?? '/usr/bin:/bin',
  AWS_EC2_METADATA_DISABLED: 'true',
  METADATA_SERVER_DETECTION: 'none',
});

/**
 * A worker's config directory paired with a client's, as an operator would: the client trusts the
 * worker's key (its trust list), and the worker gets the client's public key in a file for
 * --trust-key. Returns the worker's flags.
 */
export function pairWithClient(clientConfigDir: string, workerConfigDir: string, name: string): string[] {
  const worker = ownKey(workerConfigDir, 'worker');
  addTrusted(clientConfigDir, 'worker', worker, name);
  const file = join(dirname(workerConfigDir), `client-${randomBytes(3).toString('hex')}.pub`);
  writeFileSync(file, `${ownKey(clientConfigDir, 'client').text}\n`, { mode: 0o600 });
  return ['--trust-key', file];
}

/** Trusts a worker key of a worker that is not started (yet): a client refuses to run with none. */
export function trustSomeWorker(clientConfigDir: string): void {
  pairWithClient(clientConfigDir, join(mkdtempSync(join(tmpdir(), 'keystack-spare-worker-')), 'config'), 'spare');
}

/**
 * The allow-list flags that let a worker send its credentials to the active stack's secrets
 * manager and artifact store of a client: their location and trust fields, as the operator
 * would write them.
 */
export async function allowFlagsFor(clientConfigDir: string): Promise<string[]> {
  const ks = new Keystack({ configDir: clientConfigDir, env: {}, onWarning: () => undefined });
  try {
    const stack = ks.activeStack();
    const flags: string[] = [];
    const spec = (flavor: string, fields: readonly string[], config: Record<string, unknown>) =>
      `${flavor}:${fields
        .filter((f) => config[f] !== undefined && config[f] !== '')
        .map((f) => `${f}=${String(config[f])}`)
        .join(',')}`;
    const sm = ks.stackComponent(stack, 'secrets_manager');
    if (sm) {
      const f = await (
        BUILTIN_FLAVOR_LOADERS[sm.flavor] as () => Promise<{
          locationFields?: readonly string[];
          trustFields?: readonly string[];
        }>
      )();
      flags.push(
        '--allow-manager',
        spec(sm.flavor, [...(f.locationFields ?? []), ...(f.trustFields ?? [])], sm.config),
      );
    }
    const store = ks.stackComponent(stack, 'artifact_store');
    if (store)
      flags.push(
        '--allow-artifact-store',
        spec(store.flavor, componentFlavor('artifact_store', store.flavor).locationFields ?? [], store.config),
      );
    return flags;
  } finally {
    await ks.close();
  }
}

/**
 * Registers the secrets manager and the artifact store of a client's active stack in a worker's
 * own config store, under the same UUIDs and with the same config: how an operator pins a worker
 * to them without --allow-* flags.
 */
export async function registerLikeClient(clientConfigDir: string, workerConfigDir: string): Promise<void> {
  const client = new Keystack({ configDir: clientConfigDir, env: {}, onWarning: () => undefined });
  const worker = new Keystack({ configDir: workerConfigDir, env: {}, onWarning: () => undefined });
  try {
    const stack = client.activeStack();
    for (const type of ['secrets_manager', 'artifact_store'] as const) {
      const c = client.stackComponent(stack, type);
      if (c) worker.store.addComponent({ type, flavor: c.flavor, name: c.name, config: c.config, uuid: c.uuid });
    }
  } finally {
    await client.close();
    await worker.close();
  }
}

/**
 * Starts `keystack worker` and waits until it serves its queues (or exits). With `client` (a
 * client's config dir), the worker is paired with it and allowed its stack's locations first:
 * with --allow-* flags (`allow`, the default), or by registering them on the worker (`register`).
 * `trustVia: 'env'` gives it the client's key in KEYSTACK_WORKER_TRUSTED_KEYS instead of --trust-key.
 */
export async function startWorkerProcess(o: {
  name: string;
  queues?: string[];
  codeRoot: string;
  env?: Record<string, string>;
  args?: string[];
  redisUrl?: string | null;
  client?: string;
  allow?: boolean;
  register?: boolean;
  trustVia?: 'flag' | 'env';
}): Promise<WorkerProcess> {
  const home = mkdtempSync(join(tmpdir(), `keystack-${o.name}-`));
  const configDir = join(home, 'config');
  const env: Record<string, string> = {
    ...BASE_ENV(),
    HOME: home,
    KEYSTACK_CONFIG_DIR: configDir,
    ...(o.redisUrl === null ? {} : { KEYSTACK_REDIS_URL: o.redisUrl ?? REDIS_URL() }),
    ...o.env,
  };
  let paired: string[] = [];
  if (o.client !== undefined) {
    const trustFlags = pairWithClient(o.client, configDir, o.name);
    if (o.trustVia === 'env') env['KEYSTACK_WORKER_TRUSTED_KEYS'] = ownKey(o.client, 'client').text;
    if (o.register === true) await registerLikeClient(o.client, configDir);
    paired = [...(o.trustVia === 'env' ? [] : trustFlags), ...(o.allow === false ? [] : await allowFlagsFor(o.client))];
  }
  const args = [
    BIN,
    'worker',
    '--name',
    o.name,
    '--code-root',
    o.codeRoot,
    ...(o.queues ?? ['keystack']).flatMap((q) => ['--queue', q]),
    ...paired,
    ...(o.args ?? []),
  ];
  const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((res) => proc.on('exit', (code, signal) => res(code ?? signal ?? -1)));
  await new Promise<void>((res, rej) => {
    const timer = setInterval(() => {
      if (out.includes(' serving ')) {
        clearInterval(timer);
        res();
      }
    }, 20);
    void exited.then(() => {
      clearInterval(timer);
      // A worker that could not start is a result too (the Redis-down tests look at it).
      res();
    });
    setTimeout(() => {
      clearInterval(timer);
      rej(new Error(`worker ${o.name} did not start:\n${out}`));
    }, 20_000);
  });
  return {
    proc,
    name: o.name,
    configDir,
    log: () => out,
    exited,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

export function cliEnv(configDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...BASE_ENV(), HOME: configDir, KEYSTACK_CONFIG_DIR: configDir, ...extra };
}

/** Runs the CLI to completion. */
export function runCli(
  args: readonly string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [BIN, ...args], {
      env,
      cwd: cwd ?? process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (status) => res({ status, stdout, stderr }));
  });
}

/** Polls `ok` every 50 ms until it holds; throws after `ms`. */
export async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface CaughtRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** A host on loopback standing in for an attacker's: it records whatever reaches it. */
export interface Catcher {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT (for fields that take host:port) */
  hostPort: string;
  /** Every HTTP request, headers included (credential values too: never print these). */
  requests: CaughtRequest[];
  /** Every TCP connection, HTTP or not (TLS, gRPC). */
  connections: number;
  /** What reached it, printable: connections, methods, paths and header names, no header values. */
  seen(): string[];
  close(): Promise<void>;
}

/** A request catcher on 127.0.0.1: an HTTP server that answers 403 and records every connection and request. */
export async function requestCatcher(): Promise<Catcher> {
  const requests: CaughtRequest[] = [];
  let connections = 0;
  const server = createHttpServer((req, res) => {
    requests.push({ method: req.method ?? '?', url: req.url ?? '?', headers: req.headers });
    req.resume();
    res.writeHead(403, { 'content-type': 'application/json' }).end('{"errors":["caught"]}');
  });
  server.on('connection', () => {
    connections++;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    hostPort: `127.0.0.1:${port}`,
    requests,
    get connections() {
      return connections;
    },
    seen: () => [
      ...(connections > 0 ? [`${connections} connection(s)`] : []),
      ...requests.map((r) => `${r.method} ${r.url} [${Object.keys(r.headers).sort().join(' ')}]`),
    ],
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Every key in Redis with its value, by type: what a reader of Redis can see. */
export async function dumpRedis(url: string): Promise<string> {
  const { Redis } = await import('ioredis');
  const r = new Redis(url, { lazyConnect: true });
  await r.connect();
  const parts: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'COUNT', 500);
    cursor = next;
    for (const k of keys) {
      const type = await r.type(k);
      let v: unknown;
      if (type === 'string') v = await r.getBuffer(k).then((b) => b?.toString('latin1'));
      else if (type === 'hash')
        v = await r
          .hgetallBuffer(k)
          .then((h) => Object.fromEntries(Object.entries(h).map(([f, b]) => [f, b.toString('latin1')])));
      else if (type === 'list') v = (await r.lrangeBuffer(k, 0, -1)).map((b) => b.toString('latin1'));
      else if (type === 'set') v = (await r.smembersBuffer(k)).map((b) => b.toString('latin1'));
      else if (type === 'zset') v = await r.zrange(k, '0', '-1', 'WITHSCORES');
      else if (type === 'stream') v = await r.xrange(k, '-', '+');
      parts.push(`${k} ${type} ${JSON.stringify(v)}`);
    }
  } while (cursor !== '0');
  r.disconnect();
  return parts.join('\n');
}

/** The forms of a value that must not appear anywhere. */
export function forms(value: string): string[] {
  const b = Buffer.from(value, 'utf8');
  return [
    value,
    b.toString('base64'),
    b.toString('base64url'),
    b.toString('hex'),
    b.toString('hex').toUpperCase(),
    encodeURIComponent(value),
  ];
}
