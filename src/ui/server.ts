/**
 * `keystack ui`'s server: loopback only, one-time token → session cookie, Host checked, strict
 * CSP, GET only but for the leaked-value search. Anyone on this machine can reach 127.0.0.1, so the
 * session is what keeps other local users and web pages out; the Host check defeats DNS rebinding
 * (a page on another name that resolves to 127.0.0.1 is still refused). The threat model is in
 * docs/ui.md.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono, type Context } from 'hono';
import { serve } from '@hono/node-server';
import { processMasker } from '../support/masking.js';
import {
  auditPage,
  errorOf,
  errorPage,
  runPage,
  runsPage,
  searchPage,
  secretPage,
  secretsPage,
  stacksPage,
  valueResultsPage,
} from './pages.js';
import type { UiSource } from './source.js';

export interface UiServerOptions {
  source: UiSource;
  /** 0: any free port. */
  port: number;
}

export interface UiServer {
  /** The URL with the one-time token: a credential until it is used. */
  url: string;
  port: number;
  close(): Promise<void>;
}

const COOKIE = 'keystack_ui';

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ASSETS: Readonly<Record<string, string>> = {
  'ui.css': 'text/css; charset=utf-8',
  'ui.js': 'text/javascript; charset=utf-8',
};

declare const __filename: string | undefined;

/** Beside the CLI bundle (dist/ui/assets), else beside this module (src/ui/assets, dist/lib/ui/assets). */
function assetsDir(): string {
  if (typeof __filename === 'string' && __filename.endsWith('.cjs')) return join(dirname(__filename), 'ui', 'assets');
  return join(dirname(fileURLToPath(import.meta.url)), 'assets');
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieOf(header: string | undefined): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === COOKIE) return v.join('=');
  }
  return undefined;
}

export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const { source } = options;
  let token: string | undefined = randomBytes(32).toString('base64url');
  const sessions = new Set<string>();
  const assets = assetsDir();
  let port = 0;
  const app = new Hono();

  app.use(async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Cache-Control', 'no-store');
    c.header('X-Frame-Options', 'DENY');
    c.header('Cross-Origin-Resource-Policy', 'same-origin');
  });

  app.use(async (c, next) => {
    const host = c.req.header('host');
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`)
      return c.text('421 Misdirected Request: this server answers only to 127.0.0.1 and localhost.\n', 421);
    const method = c.req.method;
    if (method !== 'GET' && method !== 'HEAD' && !(method === 'POST' && c.req.path === '/search/value'))
      return c.text('405 Method Not Allowed: the dashboard is read-only.\n', 405, { Allow: 'GET' });
    // The token is exchanged once; the URL it came in is then replaced by one without it.
    const given = c.req.query('token');
    if (given !== undefined && c.req.path === '/' && method === 'GET') {
      if (token === undefined || !sameSecret(given, token))
        return c.text(
          '401 Unauthorized: this link was used already or is wrong; restart `keystack ui` for a new one.\n',
          401,
        );
      token = undefined;
      const session = randomBytes(32).toString('base64url');
      sessions.add(session);
      c.header('Set-Cookie', `${COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/`);
      return c.redirect('/', 303);
    }
    const session = cookieOf(c.req.header('cookie'));
    if (session === undefined || ![...sessions].some((s) => sameSecret(s, session)))
      return c.text('401 Unauthorized: open the URL `keystack ui` printed (it works once).\n', 401);
    return next();
  });

  app.get('/assets/:file', (c) => {
    const file = c.req.param('file');
    const type = ASSETS[file];
    if (type === undefined) return c.text('404 Not Found\n', 404);
    return c.body(readFileSync(join(assets, file)), 200, { 'Content-Type': type });
  });
  app.get('/', async (c) => c.html(await stacksPage(source)));
  app.get('/secrets', async (c) => c.html(await secretsPage(source)));
  app.get('/secrets/:manager/:name', async (c) =>
    c.html(await secretPage(source, c.req.param('manager'), c.req.param('name'))),
  );
  app.get('/runs', async (c) => c.html(await runsPage(source)));
  app.get('/runs/:id', async (c) => c.html(await runPage(source, c.req.param('id'))));
  app.get('/audit', async (c) => c.html(await auditPage(source)));
  app.get('/search', async (c) => c.html(await searchPage(source, (c.req.query('secret') ?? '').trim())));
  // What the live pages poll: the same documents as `pipeline runs list/describe --json`.
  app.get('/api/runs', async (c) => c.json({ runs: await source.runs(50) }));
  app.get('/api/runs/:id', async (c) => c.json(await source.run(c.req.param('id'))));

  app.post('/search/value', async (c) => {
    const origin = c.req.header('origin');
    if (origin !== `http://127.0.0.1:${port}` && origin !== `http://localhost:${port}`)
      return c.text('403 Forbidden: the search must come from this dashboard.\n', 403);
    const body = await c.req.parseBody();
    const value = body['value'];
    const manager =
      typeof body['manager'] === 'string' && body['manager'].trim() !== '' ? body['manager'].trim() : undefined;
    if (typeof value !== 'string' || value === '')
      return c.html(errorPage(400, 'usage', 'Give the leaked value in the form.'), 400);
    try {
      return c.html(valueResultsPage(await source.usedByValue(value, manager)));
    } catch (e) {
      // Only the code: a backend's message could quote what it was given.
      const { code } = errorOf(e);
      return c.html(errorPage(500, code, 'The search failed.'), 500);
    }
  });

  app.notFound((c) => c.html(errorPage(404, 'not_found', `No page ${c.req.path}.`), 404));
  app.onError((e, c: Context) => {
    const { code, message } = errorOf(e);
    const status = code === 'not_found' || code === 'secret_not_found' ? 404 : 500;
    return c.html(errorPage(status, code, processMasker.mask(message)), status);
  });

  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: options.port, hostname: '127.0.0.1' }, (info) => {
      port = info.port;
      resolve(s);
    });
    s.once('error', reject);
  });
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
