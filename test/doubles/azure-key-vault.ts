/**
 * An in-repo double of Azure Key Vault's secrets REST API, for when Lowkey Vault cannot be
 * installed (Maven Central here has no lowkey-vault-app). HTTPS on loopback with a throw-away
 * self-signed certificate (made with the openssl CLI), the bearer challenge that the SDK's
 * challenge policy expects, and Key Vault's documented behaviour wherever keystack or ZenML depend
 * on it (each rule has a test in azure-key-vault.contract.test.ts):
 * - only the configured bearer token is accepted (401 with the challenge otherwise);
 * - case-insensitive names `[0-9A-Za-z-]{1,127}`, per-version tags (≤ 15 per secret, names ≤ 512
 *   and values ≤ 256 characters: the limits given for Azure tags, not confirmed for Key Vault
 *   secrets by its own docs), 25 KB values, contentType ≤ 255 characters, api-versions up to
 *   2025-07-01 only (as Lowkey);
 * - `maxresults` ≤ 25 with an opaque `nextLink`; a made-up `$skiptoken` is 400;
 * - each set makes a new version (an id of 32 hex digits); GET /secrets/{name}/versions lists
 *   them without values, paged like the secrets (Key Vault documents no order: the double lists
 *   by id, so that nothing may depend on creation order); a version's `created` is in seconds;
 * - PATCH of a version's properties (`update_secret_properties`: enabled, contentType, tags; an
 *   empty version means the current one); a disabled secret answers 403 `Forbidden` /
 *   `SecretDisabled`;
 * - asynchronous soft delete and purge: for `deleteMs` after DELETE the name answers 409
 *   `Conflict` / innererror `ObjectIsBeingDeleted` to a set or a purge and 404 on
 *   /deletedsecrets; then it is deleted-but-recoverable (409 `ObjectIsDeletedButRecoverable` to a
 *   set) until purged; for `purgeMs` after a purge a set still meets `ObjectIsBeingDeleted`;
 * - 429 `Throttled` with a non-zero Retry-After on demand.
 *
 *   npx tsx test/doubles/azure-key-vault.ts --port 8443 --ca-out /tmp/akv-ca.pem [--token T] [--delete-ms N] [--purge-ms N]
 *   # prints "ready https://localhost:8443"
 *   then NODE_EXTRA_CA_CERTS=/tmp/akv-ca.pem AKV_URL=https://localhost:8443 (token default: emulator)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { selfSignedCert } from '../support/tls.js';

export interface AkvDoubleOptions {
  port?: number;
  /** 'soft' (Recoverable+Purgeable, the default), 'protected' (purge refused) or 'none' (deleted outright). */
  deletion?: 'soft' | 'protected' | 'none';
  /** The bearer token the vault accepts. @default 'emulator' */
  token?: string;
  /** How long a delete stays in progress. @default 300 */
  deleteMs?: number;
  /** How long a purge stays in progress. @default 300 */
  purgeMs?: number;
}

export interface AkvDouble {
  url: string;
  /** PEM of the server certificate, to trust as a CA. */
  ca: string;
  token: string;
  /** `METHOD /path` of every authorised request, in order. */
  calls: string[];
  /**
   * The next `times` requests whose `METHOD /path` matches `match` answer `status` (429 always
   * with a Retry-After, 1 s unless given; other statuses with one only if given).
   */
  failNext(status: number, times?: number, match?: RegExp, retryAfterSeconds?: number, innerCode?: string): void;
  close(): Promise<void>;
}

interface Version {
  id: string;
  value: string;
  tags: Record<string, string>;
  contentType?: string;
  enabled: boolean;
  created: number;
  updated: number;
}
interface Entry {
  name: string;
  versions: Version[];
  deletedAt?: number;
}
/** A name on its way out: being deleted, deleted (recoverable), or being purged. */
interface Gone {
  entry: Entry;
  state: 'deleting' | 'deleted' | 'purging';
  until: number;
}

const NAME_RE = /^[0-9A-Za-z-]{1,127}$/;
const VERSIONS = ['7.0', '7.1', '7.2', '7.3', '7.4', '7.5', '7.6', '2025-07-01'];
const MAX_VALUE = 25 * 1024;
const MAX_TAGS = 15;
const MAX_TAG_NAME = 512;
const MAX_TAG_VALUE = 256;
const PAGE_MAX = 25;
/** contentType: "The maximum length of this field is 255 characters" (learn.microsoft.com, About Key Vault secrets). */
const MAX_CONTENT_TYPE = 255;

export async function startAkvDouble(o: AkvDoubleOptions = {}): Promise<AkvDouble> {
  const dir = mkdtempSync(join(tmpdir(), 'akv-double-'));
  selfSignedCert(dir, { cn: 'localhost', san: 'DNS:localhost,IP:127.0.0.1', days: 7 });
  const key = readFileSync(join(dir, 'key.pem'));
  const ca = readFileSync(join(dir, 'cert.pem'), 'utf8');
  rmSync(dir, { recursive: true, force: true });

  const token = o.token ?? 'emulator';
  const deleteMs = o.deleteMs ?? 300;
  const purgeMs = o.purgeMs ?? 300;
  const live = new Map<string, Entry>();
  const gone = new Map<string, Gone>();
  const skipTokens = new Map<string, number>();
  const calls: string[] = [];
  const faults: {
    status: number;
    times: number;
    match: RegExp;
    retryAfter: number | undefined;
    inner: string | undefined;
  }[] = [];
  const deletion = o.deletion ?? 'soft';
  const recoveryLevel =
    deletion === 'soft' ? 'Recoverable+Purgeable' : deletion === 'protected' ? 'Recoverable' : 'Purgeable';
  /** The state of a name that is not live, after letting time pass. */
  const goneState = (k: string): Gone | undefined => {
    const g = gone.get(k);
    if (!g) return undefined;
    if (g.state === 'deleting' && Date.now() >= g.until) g.state = 'deleted';
    if (g.state === 'purging' && Date.now() >= g.until) {
      gone.delete(k);
      return undefined;
    }
    return g;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const base = `https://${req.headers.host ?? 'localhost'}`;
    const url = new URL(req.url ?? '/', base);
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    const error = (
      status: number,
      code: string,
      message: string,
      inner?: string,
      headers: Record<string, string> = {},
    ) => send(status, { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } }, headers);
    const auth = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    if (!auth || auth[1] !== token) {
      return send(
        401,
        {
          error: {
            code: 'Unauthorized',
            message: auth
              ? 'AKV10032: Invalid issuer. The token was not issued for this vault.'
              : 'AKV10000: Request is missing a Bearer or PoP token.',
          },
        },
        {
          'www-authenticate': `Bearer authorization="${base}/tenant", resource="https://vault.azure.net"`,
        },
      );
    }
    const apiVersion = url.searchParams.get('api-version') ?? '';
    if (!VERSIONS.includes(apiVersion))
      return error(400, 'BadParameter', `The specified version (${apiVersion}) is not recognized.`);
    const rawPath = url.pathname;
    const path = rawPath.replace(/\/+$/, '');
    calls.push(`${req.method} ${path}`);
    const fault = faults.find((f) => f.times > 0 && f.match.test(`${req.method} ${path}`));
    if (fault) {
      fault.times--;
      const retryAfter = fault.retryAfter ?? (fault.status === 429 ? 1 : undefined);
      const code =
        fault.status === 429
          ? 'Throttled'
          : fault.status === 409
            ? 'Conflict'
            : fault.status === 403
              ? 'Forbidden'
              : 'Injected';
      return error(
        fault.status,
        code,
        `injected ${fault.status}`,
        fault.inner,
        retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) },
      );
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Record<string, unknown> = {};
    if (chunks.length) {
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        return error(400, 'BadParameter', 'The request body is not valid JSON');
      }
    }
    const badTags = (tags: unknown): string | null => {
      if (tags === undefined || tags === null) return null;
      if (typeof tags !== 'object' || Array.isArray(tags)) return 'tags must be an object';
      const e = Object.entries(tags as Record<string, unknown>);
      if (e.length > MAX_TAGS) return `Too many tags: at most ${MAX_TAGS} are allowed`;
      for (const [k, v] of e) {
        if (typeof v !== 'string') return `tag ${k} must be a string`;
        if (k.length === 0 || k.length > MAX_TAG_NAME) return `tag name longer than ${MAX_TAG_NAME} characters`;
        if (v.length > MAX_TAG_VALUE) return `value of tag ${k} is longer than ${MAX_TAG_VALUE} characters`;
      }
      return null;
    };

    const attrs = (v: Version) => ({
      enabled: v.enabled,
      created: v.created,
      updated: v.updated,
      recoveryLevel,
      recoverableDays: deletion === 'none' ? 0 : 90,
    });
    const bundle = (e: Entry, v: Version, withValue = true) => ({
      ...(withValue ? { value: v.value } : {}),
      id: `${base}/secrets/${e.name}/${v.id}`,
      attributes: attrs(v),
      tags: v.tags,
      ...(v.contentType ? { contentType: v.contentType } : {}),
    });
    const deletedBundle = (e: Entry) => ({
      ...bundle(e, e.versions.at(-1)!, false),
      recoveryId: `${base}/deletedsecrets/${e.name}`,
      deletedDate: e.deletedAt,
      scheduledPurgeDate: (e.deletedAt ?? 0) + 90 * 86400,
    });
    /** `maxresults` (≤ 25) and `$skiptoken` of a listing at `prefix`; the next page's link, as Key Vault gives it. */
    const pageOf = (prefix: string, api: string) => {
      const max = Number(url.searchParams.get('maxresults') ?? PAGE_MAX);
      if (!(Number.isInteger(max) && max >= 1 && max <= PAGE_MAX))
        return { error: `maxresults must be between 1 and ${PAGE_MAX}` };
      const tok = url.searchParams.get('$skiptoken');
      const skip = tok === null ? 0 : skipTokens.get(tok);
      if (skip === undefined) return { error: 'Invalid skip token' };
      return {
        page<T>(all: T[]) {
          let nextLink: string | null = null;
          if (skip + max < all.length) {
            const t = randomBytes(12).toString('base64url');
            skipTokens.set(t, skip + max);
            nextLink = `${base}${prefix}api-version=${api}&$skiptoken=${t}&maxresults=${max}`;
          }
          return { items: all.slice(skip, skip + max), nextLink };
        },
      };
    };
    const beingDeleted = (name: string) =>
      error(409, 'Conflict', `Secret ${name} is currently being deleted.`, 'ObjectIsBeingDeleted');
    const notFound = (name: string) =>
      error(
        404,
        'SecretNotFound',
        `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command.`,
      );
    let m: RegExpExecArray | null;
    if ((m = /^\/secrets\/([^/]+)(?:\/([^/]*))?$/.exec(path))) {
      const name = decodeURIComponent(m[1]!);
      const k = name.toLowerCase();
      // An empty version segment (`/secrets/NAME/`) means the current version.
      const version = m[2] || (rawPath.endsWith('/') && req.method === 'PATCH' ? '' : undefined);
      if (!NAME_RE.test(name)) return error(400, 'BadParameter', 'The request URI contains an invalid name');
      if (req.method === 'PUT' && version === undefined) {
        const g = goneState(k);
        if (g?.state === 'deleting' || g?.state === 'purging') return beingDeleted(name);
        if (g)
          return error(
            409,
            'Conflict',
            `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
            'ObjectIsDeletedButRecoverable',
          );
        const value = body['value'];
        if (typeof value !== 'string') return error(400, 'BadParameter', 'value is required');
        if (Buffer.byteLength(value, 'utf8') > MAX_VALUE)
          return error(400, 'BadParameter', 'Secret value is too large');
        const bad = badTags(body['tags']);
        if (bad) return error(400, 'BadParameter', bad);
        if (typeof body['contentType'] === 'string' && body['contentType'].length > MAX_CONTENT_TYPE)
          return error(400, 'BadParameter', `contentType is longer than ${MAX_CONTENT_TYPE} characters`);
        const e = live.get(k) ?? { name, versions: [] };
        const now = Math.floor(Date.now() / 1000);
        const enabled = (body['attributes'] as { enabled?: unknown } | undefined)?.enabled !== false;
        const v: Version = {
          id: randomBytes(16).toString('hex'),
          value,
          tags: { ...((body['tags'] ?? {}) as Record<string, string>) },
          enabled,
          created: now,
          updated: now,
          ...(typeof body['contentType'] === 'string' ? { contentType: body['contentType'] } : {}),
        };
        e.versions.push(v);
        live.set(k, e);
        return send(200, bundle(e, v));
      }
      const e = live.get(k);
      if (req.method === 'GET' && version !== '') {
        if (version === 'versions') {
          if (!e) return notFound(name);
          const paged = pageOf(`${path}?`, apiVersion);
          if ('error' in paged) return error(400, 'BadParameter', paged.error);
          const all = [...e.versions].sort((a, b) => (a.id < b.id ? -1 : 1));
          const { items, nextLink } = paged.page(all);
          return send(200, { value: items.map((v) => bundle(e, v, false)), nextLink });
        }
        const v = version ? e?.versions.find((x) => x.id === version) : e?.versions.at(-1);
        if (!e || !v) return notFound(name);
        if (!v.enabled)
          return error(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');
        return send(200, bundle(e, v));
      }
      if (req.method === 'PATCH' && version !== undefined) {
        const v = version ? e?.versions.find((x) => x.id === version) : e?.versions.at(-1);
        if (!e || !v) return notFound(name);
        const bad = badTags(body['tags']);
        if (bad) return error(400, 'BadParameter', bad);
        if (body['tags'] !== undefined && body['tags'] !== null)
          v.tags = { ...(body['tags'] as Record<string, string>) };
        if (typeof body['contentType'] === 'string') v.contentType = body['contentType'];
        const enabled = (body['attributes'] as { enabled?: unknown } | undefined)?.enabled;
        if (typeof enabled === 'boolean') v.enabled = enabled;
        v.updated = Math.floor(Date.now() / 1000);
        return send(200, bundle(e, v, false));
      }
      if (req.method === 'DELETE' && version === undefined) {
        if (!e) return goneState(k)?.state === 'deleting' ? beingDeleted(name) : notFound(name);
        live.delete(k);
        e.deletedAt = Math.floor(Date.now() / 1000);
        if (deletion === 'none') {
          const { recoveryId: _r, scheduledPurgeDate: _s, deletedDate: _d, ...rest } = deletedBundle(e);
          return send(200, rest);
        }
        gone.set(k, { entry: e, state: 'deleting', until: Date.now() + deleteMs });
        return send(200, deletedBundle(e));
      }
    }
    if ((m = /^\/deletedsecrets\/([^/]+)$/.exec(path))) {
      const name = decodeURIComponent(m[1]!);
      const g = goneState(name.toLowerCase());
      if (req.method === 'GET') {
        if (!g || g.state !== 'deleted') return error(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
        return send(200, deletedBundle(g.entry));
      }
      if (req.method === 'DELETE') {
        if (!g || g.state === 'purging') return error(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
        if (g.state === 'deleting') return beingDeleted(name);
        if (deletion === 'protected')
          return error(
            403,
            'Forbidden',
            'Operation "purge" is not allowed because purge protection is enabled for this vault.',
            'ForbiddenByPolicy',
          );
        Object.assign(g, { state: 'purging', until: Date.now() + purgeMs });
        res.writeHead(204);
        return res.end();
      }
    }
    if (path === '/secrets' && req.method === 'GET') {
      const paged = pageOf('/secrets?', apiVersion);
      if ('error' in paged) return error(400, 'BadParameter', paged.error);
      const all = [...live.values()].sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()));
      const { items, nextLink } = paged.page(all);
      const value = items.map((e) => {
        const v = e.versions.at(-1)!;
        return {
          id: `${base}/secrets/${e.name}`,
          attributes: attrs(v),
          tags: v.tags,
          ...(v.contentType ? { contentType: v.contentType } : {}),
        };
      });
      return send(200, { value, nextLink });
    }
    return error(405, 'MethodNotAllowed', `${req.method} ${path} is not supported by the double`);
  };

  const server = createServer({ key, cert: ca }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500);
      res.end(String(e));
    });
  });
  // Node closes idle keep-alive connections after 5 s, far sooner than Key Vault's front end.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((r) => server.listen(o.port ?? 0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://localhost:${port}`,
    ca,
    token,
    calls,
    failNext(status, times = 1, match = /.*/, retryAfterSeconds, innerCode) {
      faults.push({ status, times, match, retryAfter: retryAfterSeconds, inner: innerCode });
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (flag: string) => {
    const i = process.argv.indexOf(flag);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const tok = arg('--token');
  const ms = (flag: string) =>
    arg(flag) === undefined ? {} : { [flag === '--delete-ms' ? 'deleteMs' : 'purgeMs']: Number(arg(flag)) };
  const d = await startAkvDouble({
    port: Number(arg('--port') ?? 8443),
    ...(tok ? { token: tok } : {}),
    ...ms('--delete-ms'),
    ...ms('--purge-ms'),
  });
  const caOut = arg('--ca-out');
  if (caOut) writeFileSync(caOut, d.ca);
  console.log(`ready ${d.url}`);
  const stop = () => void d.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
