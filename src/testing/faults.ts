/**
 * Fault injection for the conformance suite: an HTTP(S) proxy in front of a flavor's real server
 * that forwards requests until told to fail, then answers like a broken, locked or overloaded
 * server would. The suite uses it (through `proxyFaults`) to prove that a failure is never read as
 * "not found" (DESIGN §3); flavor authors whose backend speaks HTTP can use it the same way, and
 * others (gRPC, files) supply their own `FaultInjection`.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { inspect } from 'node:util';
import { isKeystackError } from '../errors.js';
import type { SecretsManager } from '../core/manager.js';
import type { SuiteContext } from './conformance.js';

/**
 * How the server misbehaves:
 * - `unauthorized` / `forbidden`: HTTP 401 / 403 (bad or insufficient credentials)
 * - `refused`: nothing listens on the port (connection refused)
 * - `reset`: the connection is closed without an answer
 * - `server_error` / `unavailable`: HTTP 500 / 503
 * - `throttled`: HTTP 429 with `Retry-After: 1` on every request, so retries run out
 * - `malformed`: HTTP 200 with a body that is not valid JSON
 */
export type FaultMode =
  | 'unauthorized'
  | 'forbidden'
  | 'refused'
  | 'reset'
  | 'server_error'
  | 'unavailable'
  | 'throttled'
  | 'malformed';

export const FAULT_MODES: readonly FaultMode[] = [
  'unauthorized',
  'forbidden',
  'refused',
  'reset',
  'server_error',
  'unavailable',
  'throttled',
  'malformed',
];

export interface FaultProxyOptions {
  /** The real server, e.g. `http://127.0.0.1:5000` or `https://localhost:8443`. */
  target: string;
  mode: FaultMode | 'pass';
  /** Requests forwarded untouched before the fault starts. @default 0 */
  passFirst?: number;
  /** Serve HTTPS with this key and certificate (for clients that only speak HTTPS). @default plain HTTP */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** CAs to trust for an HTTPS target. @default Node's (including NODE_EXTRA_CA_CERTS) */
  targetCa?: string | Buffer;
}

export interface FaultProxy {
  /** Where to point the client. */
  url: string;
  /** Requests received (forwarded or failed). */
  readonly requests: number;
  /** Requests answered with the fault. */
  readonly faulted: number;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 and an ephemeral port. In `refused` mode nothing listens on `url`. */
export async function startFaultProxy(o: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(o.target);
  const passFirst = o.passFirst ?? 0;
  let requests = 0;
  let faulted = 0;
  const sockets = new Set<Socket>();
  const mode = o.mode;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    requests++;
    if (mode === 'pass' || requests <= passFirst) {
      forward(req, res, target, o.targetCa);
      return;
    }
    faulted++;
    // Drain the request first: some clients (the AWS SDK) report a reset instead of the answer otherwise.
    req.resume();
    req.on('end', () => {
      answerWithFault(mode, req, res);
    });
  };
  const server: Server = o.tls
    ? createHttpsServer({ key: o.tls.key, cert: o.tls.cert }, handler)
    : createHttpServer(handler);
  server.on(o.tls ? 'secureConnection' : 'connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => {
      sockets.delete(s);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  // HTTPS clients check the name in the certificate; test certificates are made for localhost.
  const url = `${o.tls ? 'https' : 'http'}://${o.tls ? 'localhost' : '127.0.0.1'}:${port}`;
  const close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => {
        r();
      });
    });
  // A port that was just free and now has nobody listening: the client's connect is refused.
  if (mode === 'refused') await close();
  return {
    url,
    get requests() {
      return requests;
    },
    get faulted() {
      return faulted;
    },
    close: mode === 'refused' ? () => Promise.resolve() : close,
  };
}

function answerWithFault(mode: FaultMode, req: IncomingMessage, res: ServerResponse): void {
  const status: Record<FaultMode, number> = {
    unauthorized: 401,
    forbidden: 403,
    refused: 0,
    reset: 0,
    server_error: 500,
    unavailable: 503,
    throttled: 429,
    malformed: 200,
  };
  if (mode === 'reset' || mode === 'refused') {
    req.socket.destroy();
    return;
  }
  if (mode === 'malformed') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"keystack-fault-proxy": "truncated');
    return;
  }
  // One body that each SDK reads as an error of its own kind (AWS `__type`, Azure `error`, Vault
  // `errors`, GitHub `message`), and none as "not found".
  const text = `injected fault: HTTP ${status[mode]}`;
  res.writeHead(status[mode], {
    'content-type': 'application/json',
    'x-amzn-errortype': 'InjectedFault',
    ...(mode === 'throttled' ? { 'retry-after': '1' } : {}),
  });
  res.end(
    JSON.stringify({
      __type: 'InjectedFault',
      message: text,
      errors: [text],
      error: { code: 'InjectedFault', message: text },
    }),
  );
}

function forward(req: IncomingMessage, res: ServerResponse, target: URL, ca: string | Buffer | undefined): void {
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const upstream = send(
    {
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      // Servers that route by host (Lowkey Vault picks the vault by it) must see their own name.
      headers: { ...req.headers, host: target.host },
      ...(ca ? { ca } : {}),
    },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  upstream.on('error', () => req.socket.destroy());
  req.pipe(upstream);
}

/** A flavor's way to point a manager at a faulty server. */
export interface FaultInjection {
  /**
   * Arranges a server that answers with `mode` once `passFirst` requests have gone through to the
   * real server, and returns the flavor's own config fields (and, optionally, env) that point a
   * manager at it. `close` is called after the test.
   */
  setup(mode: FaultMode, options: { passFirst: number }): Promise<FaultSetup>;
  /** Modes this injection cannot produce, each with the reason; the suite reports them as skipped. */
  unsupported?: Partial<Record<FaultMode, string>>;
  /** False when `passFirst` is ignored (faults from the first request only): the staged tests are skipped. @default true */
  staged?: boolean;
  /**
   * The code an auth failure (`unauthorized`, `forbidden`) gives, where the flavor documents it
   * as a configuration problem. @default 'backend'
   */
  authCode?: 'backend' | 'config';
}

export interface FaultSetup {
  config: Record<string, unknown>;
  env?: Readonly<Record<string, string | undefined>>;
  close(): Promise<void>;
}

export interface ProxyFaultsOptions {
  /** The real server the flavor talks to. */
  target: string;
  /** The flavor's own config fields with the server address replaced by `url`. */
  config(url: string): Record<string, unknown>;
  tls?: FaultProxyOptions['tls'];
  targetCa?: FaultProxyOptions['targetCa'];
  authCode?: FaultInjection['authCode'];
}

/** A `FaultInjection` for flavors whose backend speaks HTTP(S): a `startFaultProxy` per test. */
export function proxyFaults(o: ProxyFaultsOptions): FaultInjection {
  return {
    async setup(mode, { passFirst }) {
      const proxy = await startFaultProxy({
        target: o.target,
        mode,
        passFirst,
        ...(o.tls ? { tls: o.tls } : {}),
        ...(o.targetCa ? { targetCa: o.targetCa } : {}),
      });
      return { config: o.config(proxy.url), close: () => proxy.close() };
    },
    ...(o.authCode ? { authCode: o.authCode } : {}),
  };
}

type Op = 'get' | 'list' | 'register' | 'update' | 'delete';

/**
 * The fault group: every operation against every fault rejects with a BackendError (never "not
 * found", never "exists"), with no value in the error. Registered by testFlavor.
 */
export function faultTests(s: SuiteContext, option: FaultInjection | { skip: string } | undefined): void {
  const { t, h } = s;
  const modes = FAULT_MODES;
  t.describe('failures are never absence', () => {
    if (!option || 'skip' in option) {
      const reason = option?.skip ?? 'no `faults` option was given to testFlavor';
      for (const mode of modes)
        s.skip(`every operation fails with a BackendError when the server answers ${mode}`, reason);
      s.skip('a server that fails after the first request never makes an existing secret read as absent', reason);
      return;
    }
    const faults = option;
    const ops: Op[] = s.readable
      ? ['get', 'list', 'register', 'update', 'delete']
      : ['list', 'register', 'update', 'delete'];
    const expected = (mode: FaultMode) =>
      mode === 'unauthorized' || mode === 'forbidden' ? (faults.authCode ?? 'backend') : 'backend';

    /** A healthy manager and a faulty one that share one scope, and an existing secret in it. */
    const pair = async (mode: FaultMode, passFirst: number) => {
      const uuid = randomUUID();
      const healthy = h.manager({ uuid });
      const existing = h.name();
      const stored = { k: s.secretValue() };
      await s.put(healthy, existing, stored);
      const setup = await faults.setup(mode, { passFirst });
      const faulty = s.makeManager({ uuid }, setup.config, setup.env);
      /** Closes both ends, and deletes the test's secrets at once: backends may cap how many a domain holds. */
      const done = async (names: string[]) => {
        await faulty.close();
        await setup.close();
        for (const n of names) await healthy.delete(n).catch(() => undefined);
      };
      return { healthy, faulty, existing, stored, done };
    };
    const run = (m: SecretsManager, op: Op, name: string, value: string): Promise<unknown> => {
      switch (op) {
        case 'get':
          return m.get(name);
        case 'list':
          return m.list();
        case 'register':
          return m.register(name, { k: value });
        case 'update':
          return m.update(name, { k: value }, { schema: 'arbitrary' });
        case 'delete':
          return m.delete(name);
      }
    };

    for (const mode of modes) {
      const title = `every operation fails with a BackendError when the server answers ${mode}`;
      const reason = faults.unsupported?.[mode];
      if (reason !== undefined) {
        s.skip(title, reason);
        continue;
      }
      t.it(title, async () => {
        const { faulty, existing, stored, done } = await pair(mode, 0);
        const registered: string[] = [];
        try {
          // In parallel: the throttled mode waits out every retry of every operation.
          const outcomes = await Promise.all(
            ops.map(async (op) => {
              const value = s.secretValue();
              // register a new name; the others act on a secret that exists on the real server.
              const name = op === 'register' ? h.name() : existing;
              if (op === 'register') registered.push(name);
              try {
                const result = await run(faulty, op, name, value);
                return `${op} resolved (${describeResult(result)}) instead of failing`;
              } catch (e) {
                return checkFailure(e, op, expected(mode), [value, ...Object.values(stored)]);
              }
            }),
          );
          assert.deepEqual(
            outcomes.filter((x) => x !== null),
            [],
            `with the server answering ${mode}`,
          );
        } finally {
          await done([existing, ...registered]);
        }
      });
    }

    const stagedTitle = 'a server that fails after the first request never makes an existing secret read as absent';
    if (faults.staged === false) {
      s.skip(stagedTitle, "the flavor's fault injection fails from the first request only (staged: false)");
      return;
    }
    t.it(stagedTitle, async () => {
      const problems: string[] = [];
      for (const mode of ['server_error', 'reset', 'malformed'] as const) {
        if (faults.unsupported?.[mode] !== undefined) continue;
        for (const op of ops.filter((x) => x !== 'list' && x !== 'register')) {
          const { healthy, faulty, existing, stored, done } = await pair(mode, 1);
          const value = s.secretValue();
          try {
            await run(faulty, op, existing, value);
            // The operation finished before the fault: then it must have done its work.
            if (op === 'delete')
              problems.push(
                ...((await healthy.list()).includes(existing)
                  ? [`${mode}: delete resolved but the secret is still there`]
                  : []),
              );
            if (op === 'update' && s.readable) {
              const v = (await healthy.get(existing)).values['k'];
              if (v !== value) problems.push(`${mode}: update resolved but the new value was not stored`);
            }
          } catch (e) {
            const p = checkFailure(e, op, 'backend', [value, ...Object.values(stored)]);
            if (p) problems.push(`${mode}: ${p}`);
          } finally {
            await done([existing]);
          }
        }
      }
      assert.deepEqual(problems, []);
    });
  });
}

/** null when `e` is the failure expected; else what is wrong with it. */
function checkFailure(e: unknown, op: string, code: string, values: string[]): string | null {
  if (!isKeystackError(e)) return `${op} threw a non-keystack error: ${String(e).slice(0, 200)}`;
  if (e.code !== code) return `${op} gave code ${e.code} instead of ${code}: ${e.message.slice(0, 200)}`;
  try {
    assertNoLeak(e, values);
  } catch (leak) {
    return `${op}: ${(leak as Error).message}`;
  }
  return null;
}

function describeResult(r: unknown): string {
  if (Array.isArray(r)) return `a list of ${r.length} names`;
  return r === undefined ? 'nothing' : typeof r;
}

/** Asserts that none of `secrets` appears in an error's message, hint, JSON form or cause chain. */
export function assertNoLeak(err: unknown, secrets: readonly string[]): void {
  const texts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 10; depth++) {
    if (e instanceof Error) {
      const hint = (e as { hint?: unknown }).hint;
      texts.push(e.message, e.stack ?? '', typeof hint === 'string' ? hint : inspect(hint));
      try {
        texts.push(JSON.stringify(e));
      } catch {
        // circular: message and stack are enough
      }
      e = (e as { cause?: unknown }).cause;
    } else {
      texts.push(typeof e === 'string' ? e : inspect(e));
      break;
    }
  }
  for (const s of secrets) {
    if (s.length < 4) continue;
    for (const t of texts) assert.ok(!t.includes(s), `a secret value leaked into an error: ${t.slice(0, 200)}`);
  }
}

/** A value random enough that finding it in an error can only mean a leak. */
export function randomSecretValue(): string {
  return randomBytes(24).toString('base64url');
}
