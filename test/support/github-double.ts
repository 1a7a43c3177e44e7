/**
 * An in-repo double of GitHub's documented Actions-secrets REST contract (no installable server
 * exists; see reference/emulators.md §8). A node:http server on 127.0.0.1 that really opens the
 * sealed boxes it receives, so tests can assert the plaintext that GitHub would hold.
 *
 * Contract (docs.github.com, "REST API endpoints for GitHub Actions secrets" and "Secrets reference"):
 * - every request needs `Authorization: Bearer <token>` (GitHub also accepts `token <token>`), else 401;
 *   a token without the Secrets permission gets 403 "Resource not accessible by personal access
 *   token" (read-only tokens may GET but not PUT or DELETE);
 * - an owner or repository the double was not told about is 404, as GitHub answers for a repository
 *   the token cannot see;
 * - every response carries `x-ratelimit-limit/-remaining/-used/-reset/-resource`; past the primary
 *   limit, 403 "API rate limit exceeded" with `x-ratelimit-remaining: 0`; on demand, the secondary
 *   limit: 403 "You have exceeded a secondary rate limit" with a `Retry-After`;
 * - GET  /repos/{o}/{r}/actions/secrets/public-key → {key_id, key (base64 X25519)};
 * - PUT  /repos/{o}/{r}/actions/secrets/{name} {encrypted_value, key_id} → 201 created / 204 updated,
 *   422 for a wrong key_id, an undecryptable value, a bad name, or a sealed value over 48 KB
 *   (GitHub documents only "48 KB"; the double takes it as 49,152 characters of `encrypted_value`);
 * - GET  /repos/{o}/{r}/actions/secrets?per_page&page → {total_count, secrets:[{name,created_at,updated_at}]}
 *   sorted by name, per_page default 30, max 100, with a Link header;
 * - GET  /repos/{o}/{r}/actions/secrets/{name} → metadata or 404; DELETE → 204 or 404;
 * - names: [A-Za-z0-9_], no leading digit, no GITHUB_ prefix, stored upper-case, matched
 *   case-insensitively; at most 100 secrets per repository (GitHub's limit; only benches raise it).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import sodium from 'libsodium-wrappers';

export interface GitHubDoubleOptions {
  /** The token with write access to secrets. @default a random one */
  token?: string;
  /** Repositories that exist, as `owner/repo`; any other is 404. More with `addRepo`. */
  repos?: readonly string[];
  /** Secrets per repository. @default 100, GitHub's documented limit (benches only raise it) */
  maxSecrets?: number;
  /** Requests per token per hour (primary rate limit). @default 5000 */
  rateLimit?: number;
}

export type TokenPermission = 'write' | 'read' | 'none';

export interface StoredGitHubSecret {
  name: string;
  /** The decrypted value, exactly as GitHub would hold it. */
  plaintext: string;
  created_at: string;
  updated_at: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  status: number;
}

export interface GitHubDouble {
  /** Base URL, for the flavor's `api_url`. */
  url: string;
  token: string;
  /** Every request served, in order (for counting backend calls). */
  requests: RecordedRequest[];
  /** The decrypted secrets of one repository, keyed by their upper-case name. */
  secrets(owner: string, repo: string): Map<string, StoredGitHubSecret>;
  /** The decrypted value of one secret (name matched case-insensitively). */
  plaintext(owner: string, repo: string, name: string): string | undefined;
  /** Replaces the repository key pair, as GitHub may; boxes sealed for the old key are refused. */
  rotateKey(): void;
  setMaxSecrets(n: number): void;
  addRepo(owner: string, repo: string): void;
  /** Another token, with the given permission on Actions secrets. */
  addToken(token: string, permission: TokenPermission): void;
  /** Uses up the primary rate limit of `token` until `resetInSeconds` from now. */
  exhaustRateLimit(token: string, resetInSeconds: number): void;
  /** The next `times` requests hit the secondary rate limit (403 with Retry-After). */
  secondaryLimitNext(times: number, retryAfterSeconds: number): void;
  close(): Promise<void>;
}

const MAX_SEALED_CHARS = 48 * 1024;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const API = /^\/repos\/([^/]+)\/([^/]+)\/actions\/secrets(?:\/([^/]+))?$/;

export async function startGitHubDouble(options: GitHubDoubleOptions = {}): Promise<GitHubDouble> {
  await sodium.ready;
  const token = options.token ?? `ghp_${randomBytes(16).toString('hex')}`;
  let maxSecrets = options.maxSecrets ?? 100;
  const rateLimit = options.rateLimit ?? 5000;
  const known = new Set((options.repos ?? []).map((r) => r.toLowerCase()));
  const tokens = new Map<string, TokenPermission>([[token, 'write']]);
  const usage = new Map<string, { used: number; reset: number }>();
  let secondary = { times: 0, retryAfter: 0 };
  let pair = newKeyPair();
  const repos = new Map<string, Map<string, StoredGitHubSecret>>();
  const requests: RecordedRequest[] = [];
  const repoSecrets = (owner: string, repo: string) => {
    const id = `${owner}/${repo}`.toLowerCase();
    let m = repos.get(id);
    if (!m) repos.set(id, (m = new Map<string, StoredGitHubSecret>()));
    return m;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const auth = req.headers.authorization ?? '';
    const m = /^(?:bearer|token)\s+(.+)$/i.exec(auth);
    const permission = m ? tokens.get(m[1] ?? '') : undefined;
    if (!m || permission === undefined)
      return send(res, 401, {
        message: 'Bad credentials',
        documentation_url: 'https://docs.github.com/rest',
        status: '401',
      });
    const now = Math.floor(Date.now() / 1000);
    let u = usage.get(m[1] ?? '');
    if (!u || u.reset <= now) usage.set(m[1] ?? '', (u = { used: 0, reset: now + 3600 }));
    const limited = u.used >= rateLimit;
    if (!limited) u.used++;
    res.setHeader('x-ratelimit-limit', String(rateLimit));
    res.setHeader('x-ratelimit-remaining', String(Math.max(0, rateLimit - u.used)));
    res.setHeader('x-ratelimit-used', String(u.used));
    res.setHeader('x-ratelimit-reset', String(u.reset));
    res.setHeader('x-ratelimit-resource', 'core');
    if (limited)
      return send(res, 403, {
        message: 'API rate limit exceeded for user ID 1.',
        documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api',
        status: '403',
      });
    if (secondary.times > 0) {
      secondary.times--;
      return send(
        res,
        403,
        {
          message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
          documentation_url:
            'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits',
          status: '403',
        },
        { 'retry-after': String(secondary.retryAfter) },
      );
    }
    const route = API.exec(url.pathname);
    if (!route) return notFound(res);
    const [, owner = '', repo = '', rawName] = route;
    if (!known.has(`${decodeURIComponent(owner)}/${decodeURIComponent(repo)}`.toLowerCase())) return notFound(res);
    if (permission === 'none' || (permission === 'read' && req.method !== 'GET')) {
      return send(res, 403, {
        message: 'Resource not accessible by personal access token',
        documentation_url: 'https://docs.github.com/rest/actions/secrets',
        status: '403',
      });
    }
    const secrets = repoSecrets(decodeURIComponent(owner), decodeURIComponent(repo));
    const name = rawName === undefined ? undefined : decodeURIComponent(rawName);

    if (name === undefined) {
      if (req.method !== 'GET') return send(res, 405, { message: 'Method Not Allowed' });
      const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 30) || 30));
      const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
      const all = [...secrets.values()].sort((a, b) => a.name.localeCompare(b.name));
      const slice = all
        .slice((page - 1) * perPage, page * perPage)
        .map(({ name: n, created_at, updated_at }) => ({ name: n, created_at, updated_at }));
      const last = Math.max(1, Math.ceil(all.length / perPage));
      const link = (p: number, rel: string) => {
        const u = new URL(url.href);
        u.searchParams.set('per_page', String(perPage));
        u.searchParams.set('page', String(p));
        return `<${u.href}>; rel="${rel}"`;
      };
      const links = [];
      if (page > 1) links.push(link(page - 1, 'prev'), link(1, 'first'));
      if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
      return send(
        res,
        200,
        { total_count: all.length, secrets: slice },
        links.length ? { link: links.join(', ') } : {},
      );
    }

    if (name === 'public-key' && req.method === 'GET') {
      return send(res, 200, {
        key_id: pair.keyId,
        key: sodium.to_base64(pair.publicKey, sodium.base64_variants.ORIGINAL),
      });
    }
    const key = name.toUpperCase();
    switch (req.method) {
      case 'GET': {
        const s = secrets.get(key);
        return s ? send(res, 200, { name: s.name, created_at: s.created_at, updated_at: s.updated_at }) : notFound(res);
      }
      case 'DELETE':
        return secrets.delete(key) ? send(res, 204) : notFound(res);
      case 'PUT': {
        if (!NAME.test(name) || key.startsWith('GITHUB_'))
          return unprocessable(
            res,
            'Secret names can only contain alphanumeric characters or underscores, must not start with a number or GITHUB_',
          );
        let body: { encrypted_value?: unknown; key_id?: unknown };
        try {
          body = JSON.parse(await readBody(req)) as typeof body;
        } catch {
          return send(res, 400, { message: 'Problems parsing JSON' });
        }
        if (typeof body.encrypted_value !== 'string' || typeof body.key_id !== 'string')
          return unprocessable(res, 'encrypted_value and key_id are required');
        if (body.key_id !== pair.keyId) return unprocessable(res, 'Bad key_id');
        if (body.encrypted_value.length > MAX_SEALED_CHARS)
          return unprocessable(res, 'Secret value is too large (48 KB max)');
        let plaintext: string;
        try {
          const box = sodium.from_base64(body.encrypted_value, sodium.base64_variants.ORIGINAL);
          plaintext = new TextDecoder('utf-8', { fatal: true }).decode(
            sodium.crypto_box_seal_open(box, pair.publicKey, pair.privateKey),
          );
        } catch {
          return unprocessable(res, 'Unable to decrypt the secret value');
        }
        const now = new Date().toISOString();
        const existing = secrets.get(key);
        if (existing) {
          secrets.set(key, { ...existing, plaintext, updated_at: now });
          return send(res, 204);
        }
        if (secrets.size >= maxSecrets) return unprocessable(res, `Repository secret limit of ${maxSecrets} reached`);
        secrets.set(key, { name: key, plaintext, created_at: now, updated_at: now });
        return send(res, 201, {});
      }
      default:
        return send(res, 405, { message: 'Method Not Allowed' });
    }
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
    const done = () =>
      requests.push({ method: req.method ?? '', path: url.pathname + url.search, status: res.statusCode });
    res.on('finish', done);
    handle(req, res, url).catch((e: unknown) => send(res, 500, { message: String(e) }));
  });
  // Node closes idle keep-alive connections after 5 s, far sooner than GitHub's front end; a client
  // that reuses a socket in the instant it is closed gets ECONNRESET, which is a Node artefact here.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    token,
    requests,
    secrets: repoSecrets,
    plaintext: (owner, repo, name) => repoSecrets(owner, repo).get(name.toUpperCase())?.plaintext,
    rotateKey: () => void (pair = newKeyPair()),
    setMaxSecrets: (n) => void (maxSecrets = n),
    addRepo: (owner, repo) => void known.add(`${owner}/${repo}`.toLowerCase()),
    addToken: (t, p) => void tokens.set(t, p),
    exhaustRateLimit: (t, resetIn) =>
      void usage.set(t, { used: rateLimit, reset: Math.floor(Date.now() / 1000) + resetIn }),
    secondaryLimitNext: (times, retryAfter) => void (secondary = { times, retryAfter }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

function newKeyPair() {
  const kp = sodium.crypto_box_keypair();
  return { publicKey: kp.publicKey, privateKey: kp.privateKey, keyId: randomBytes(10).toString('hex') };
}

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
    ...headers,
  });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

function notFound(res: ServerResponse): void {
  send(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
}

function unprocessable(res: ServerResponse, message: string): void {
  send(res, 422, { message, documentation_url: 'https://docs.github.com/rest', status: '422' });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
