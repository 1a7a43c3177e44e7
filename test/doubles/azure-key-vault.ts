/**
 * An in-repo double of Azure Key Vault's secrets REST API, for when Lowkey Vault cannot be
 * installed (Maven Central here has no lowkey-vault-app). HTTPS on loopback with a throw-away
 * self-signed certificate (made with the openssl CLI), the bearer challenge that the SDK's
 * challenge policy expects, and Key Vault's documented behaviour that keystack relies on:
 * case-insensitive names `[0-9A-Za-z-]{1,127}`, per-version tags, 25 KB values, `maxresults` ≤ 25
 * with `nextLink` paging, soft delete (`recoveryId`, /deletedsecrets, 409 Conflict on a deleted
 * name until it is purged), purge, and api-versions up to 2025-07-01 only (as Lowkey).
 *
 *   npx tsx test/doubles/azure-key-vault.ts --port 8443 --ca-out /tmp/akv-ca.pem   # "ready https://localhost:8443"
 *   then NODE_EXTRA_CA_CERTS=/tmp/akv-ca.pem AKV_URL=https://localhost:8443
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface AkvDoubleOptions {
  port?: number;
  /** 'soft' (Recoverable+Purgeable, the default), 'protected' (purge refused) or 'none' (deleted outright). */
  deletion?: 'soft' | 'protected' | 'none';
}

export interface AkvDouble {
  url: string;
  /** PEM of the server certificate, to trust as a CA. */
  ca: string;
  /** `METHOD /path` of every authorised request, in order. */
  calls: string[];
  /** The next `times` requests whose `METHOD /path` matches `match` answer `status`. */
  failNext(status: number, times?: number, match?: RegExp, retryAfterSeconds?: number): void;
  close(): Promise<void>;
}

interface Version {
  id: string;
  value: string;
  tags: Record<string, string>;
  contentType?: string;
  created: number;
}
interface Entry {
  name: string;
  versions: Version[];
  deletedAt?: number;
}

const NAME_RE = /^[0-9A-Za-z-]{1,127}$/;
const VERSIONS = ['7.0', '7.1', '7.2', '7.3', '7.4', '7.5', '7.6', '2025-07-01'];
const MAX_VALUE = 25 * 1024;

export async function startAkvDouble(o: AkvDoubleOptions = {}): Promise<AkvDouble> {
  const dir = mkdtempSync(join(tmpdir(), 'akv-double-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    '-days', '7', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  const key = readFileSync(join(dir, 'key.pem'));
  const ca = readFileSync(join(dir, 'cert.pem'), 'utf8');
  rmSync(dir, { recursive: true, force: true });

  const live = new Map<string, Entry>();
  const deleted = new Map<string, Entry>();
  const calls: string[] = [];
  const faults: { status: number; times: number; match: RegExp; retryAfter: number | undefined }[] = [];
  const deletion = o.deletion ?? 'soft';
  const recoveryLevel = deletion === 'soft' ? 'Recoverable+Purgeable' : deletion === 'protected' ? 'Recoverable' : 'Purgeable';

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const base = `https://${req.headers.host ?? 'localhost'}`;
    const url = new URL(req.url ?? '/', base);
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    const error = (status: number, code: string, message: string) => send(status, { error: { code, message } });
    const auth = req.headers.authorization ?? '';
    if (!/^Bearer \S+/.test(auth)) {
      return send(401, { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } }, {
        'www-authenticate': `Bearer authorization="${base}/tenant", resource="https://vault.azure.net"`,
      });
    }
    const apiVersion = url.searchParams.get('api-version') ?? '';
    if (!VERSIONS.includes(apiVersion)) return error(400, 'BadParameter', `The specified version (${apiVersion}) is not recognized.`);
    const path = url.pathname.replace(/\/+$/, '');
    calls.push(`${req.method} ${path}`);
    const fault = faults.find((f) => f.times > 0 && f.match.test(`${req.method} ${path}`));
    if (fault) {
      fault.times--;
      return send(fault.status, { error: { code: 'Injected', message: `injected ${fault.status}` } }, fault.retryAfter === undefined ? {} : { 'retry-after': String(fault.retryAfter) });
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};

    const attrs = (v: Version) => ({ enabled: true, created: v.created, updated: v.created, recoveryLevel, recoverableDays: deletion === 'none' ? 0 : 90 });
    const bundle = (e: Entry, v: Version) => ({ value: v.value, id: `${base}/secrets/${e.name}/${v.id}`, attributes: attrs(v), tags: v.tags, ...(v.contentType ? { contentType: v.contentType } : {}) });
    const deletedBundle = (e: Entry) => ({
      ...bundle(e, e.versions.at(-1)!),
      recoveryId: `${base}/deletedsecrets/${e.name}`,
      deletedDate: e.deletedAt,
      scheduledPurgeDate: (e.deletedAt ?? 0) + 90 * 86400,
    });
    let m: RegExpExecArray | null;
    if ((m = /^\/secrets\/([^/]+)(?:\/([^/]*))?$/.exec(path))) {
      const name = decodeURIComponent(m[1]!);
      const k = name.toLowerCase();
      if (!NAME_RE.test(name)) return error(400, 'BadParameter', 'The request URI contains an invalid name');
      if (req.method === 'PUT' && !m[2]) {
        if (deleted.has(k)) return error(409, 'Conflict', `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`);
        const value = body['value'];
        if (typeof value !== 'string') return error(400, 'BadParameter', 'value is required');
        if (Buffer.byteLength(value, 'utf8') > MAX_VALUE) return error(400, 'BadParameter', 'Secret value is too large');
        const tags = (body['tags'] ?? {}) as Record<string, string>;
        if (Object.keys(tags).length > 15) return error(400, 'BadParameter', 'Too many tags');
        const e = live.get(k) ?? { name, versions: [] };
        const v: Version = { id: randomBytes(16).toString('hex'), value, tags, created: Math.floor(Date.now() / 1000), ...(typeof body['contentType'] === 'string' ? { contentType: body['contentType'] } : {}) };
        e.versions.push(v);
        live.set(k, e);
        return send(200, bundle(e, v));
      }
      const e = live.get(k);
      if (req.method === 'GET') {
        const v = m[2] ? e?.versions.find((x) => x.id === m![2]) : e?.versions.at(-1);
        if (!e || !v) return error(404, 'SecretNotFound', `A secret with (name/id) ${name} was not found in this key vault.`);
        return send(200, bundle(e, v));
      }
      if (req.method === 'DELETE' && !m[2]) {
        if (!e) return error(404, 'SecretNotFound', `A secret with (name/id) ${name} was not found in this key vault.`);
        live.delete(k);
        e.deletedAt = Math.floor(Date.now() / 1000);
        if (deletion === 'none') {
          const { recoveryId: _r, scheduledPurgeDate: _s, deletedDate: _d, ...rest } = deletedBundle(e);
          return send(200, rest);
        }
        deleted.set(k, e);
        return send(200, deletedBundle(e));
      }
    }
    if ((m = /^\/deletedsecrets\/([^/]+)$/.exec(path))) {
      const k = decodeURIComponent(m[1]!).toLowerCase();
      const e = deleted.get(k);
      if (!e) return error(404, 'SecretNotFound', 'Deleted Secret not found');
      if (req.method === 'GET') return send(200, deletedBundle(e));
      if (req.method === 'DELETE') {
        if (deletion === 'protected') return error(403, 'Forbidden', 'Operation "purge" is not allowed because purge protection is enabled for this vault.');
        deleted.delete(k);
        res.writeHead(204);
        return res.end();
      }
    }
    if (path === '/secrets' && req.method === 'GET') {
      const max = Number(url.searchParams.get('maxresults') ?? 25);
      if (!(max >= 1 && max <= 25)) return error(400, 'BadParameter', 'maxresults must be between 1 and 25');
      const skip = Number(url.searchParams.get('$skiptoken') ?? 0);
      const all = [...live.values()].sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()));
      const page = all.slice(skip, skip + max).map((e) => {
        const v = e.versions.at(-1)!;
        return { id: `${base}/secrets/${e.name}`, attributes: attrs(v), tags: v.tags, ...(v.contentType ? { contentType: v.contentType } : {}) };
      });
      const next = skip + max < all.length ? `${base}/secrets?api-version=${apiVersion}&$skiptoken=${skip + max}&maxresults=${max}` : null;
      return send(200, { value: page, nextLink: next });
    }
    return error(405, 'MethodNotAllowed', `${req.method} ${path} is not supported by the double`);
  };

  const server = createServer({ key, cert: ca }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500);
      res.end(String(e));
    });
  });
  await new Promise<void>((r) => server.listen(o.port ?? 0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://localhost:${port}`,
    ca,
    calls,
    failNext(status, times = 1, match = /.*/, retryAfterSeconds) {
      faults.push({ status, times, match, retryAfter: retryAfterSeconds });
    },
    close: () => new Promise<void>((r) => {
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
  const d = await startAkvDouble({ port: Number(arg('--port') ?? 8443) });
  const caOut = arg('--ca-out');
  if (caOut) writeFileSync(caOut, d.ca);
  console.log(`ready ${d.url}`);
  const stop = () => void d.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
