/**
 * `keystack ui` on a local stack, in Debian's Chromium: the session model (token once → HttpOnly,
 * SameSite=Strict cookie; 401 without it; Host and Origin checked; read-only), a run with a
 * denial drawn on the right step, a rotated secret's history, the leaked-value search, live
 * updates of a running run, axe-core on every page, and no secret value in anything the browser
 * received. Needs no emulator; the remote runs are in dashboard.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { BIN, cli, tempEnv, type CliEnv } from '../support/cli.js';
import {
  DENIAL_PIPELINE,
  expectAccessible,
  expectNoValue,
  launch,
  recordingContext,
  startUi,
  type Received,
  type UiProcess,
} from './support.js';

const LIB = resolve('dist/lib/index.js');
const PW1 = 'pw-first-Zq81kq0c';
const PW2 = 'pw-rotated-Hx07mm2b';
/** Returned by a step, so that the leak guard refuses it: the audit lists that step. */
const TOKEN = 'leaky-api-token-Pq93nd7w';
const LEAK_PIPELINE = (lib: string): string => `
import { pipeline, step } from '${lib}';
const leaker = step({ name: 'leaker', secrets: ['api'], enableCache: false, run: async (_i, ctx) =>
  ({ config: { token: (await ctx.secrets.get('api')).values.token } }) });
export default pipeline('leak_demo', () => { leaker(); });
`;
/** A sensitive config field given as a plain value (not a reference): shown as `***` only. */
const PLAIN = 'plain-artifact-passphrase-Vb61';

/** A step that runs until a file appears: a run that is still going while the page is open. */
const SLOW_PIPELINE = (gate: string) => `
import { existsSync } from 'node:fs';
import { pipeline, step } from '${LIB}';
const wait = step({ name: 'wait', enableCache: false, run: async () => {
  while (!existsSync(${JSON.stringify(gate)})) await new Promise((r) => setTimeout(r, 50));
  return 1;
} });
export default pipeline('slow_demo', () => { wait(); });
`;

/** A request with the headers given as they are (fetch would not let a test set Host). */
function raw(
  port: number,
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((res, rej) => {
    const r = request(
      { host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: o.headers ?? {} },
      (resp) => {
        let body = '';
        resp.on('data', (d: Buffer) => (body += d.toString()));
        resp.on('end', () => res({ status: resp.statusCode ?? 0, headers: resp.headers, body }));
      },
    );
    r.on('error', rej);
    r.end(o.body);
  });
}

let e: CliEnv;
let ui: UiProcess;
let browser: Browser;
/** The browser context that exchanged the token: the one session, used by the tests after it. */
let session: BrowserContext;
let deniedRun = '';
let received: Received[] = [];

beforeAll(async () => {
  e = tempEnv();
  const root = mkdtempSync(join(tmpdir(), 'keystack-ui-code-'));
  writeFileSync(join(root, 'denial.mjs'), DENIAL_PIPELINE(LIB));
  expect(cli(e, ['secret', 'register', 'db', '--username=admin', '--password=@-'], { input: PW1 }).status).toBe(0);
  // Before the denial, so that the denied run stays the newest.
  expect(cli(e, ['secret', 'register', 'api', '--token=@-'], { input: TOKEN }).status).toBe(0);
  writeFileSync(join(root, 'leak.mjs'), LEAK_PIPELINE(LIB));
  const leak = cli(e, ['--json', 'pipeline', 'run', join(root, 'leak.mjs')]);
  expect(leak.status, leak.stderr).toBe(1);
  expect(leak.stdout).toContain('secret_leak');
  const run = cli(e, ['--json', 'pipeline', 'run', join(root, 'denial.mjs')]);
  expect(run.status, run.stderr).toBe(1);
  const runs = cli(e, ['--json', 'pipeline', 'runs', 'list']);
  deniedRun = (JSON.parse(runs.stdout) as { runs: { id: string }[] }).runs[0]?.id ?? '';
  expect(deniedRun).not.toBe('');
  const art = cli(e, ['artifact-store', 'register', 'plainart', '-f', 'local', `--encryption_key=${PLAIN}`]);
  expect(art.status, art.stderr).toBe(0);
  const rotated = cli(e, ['secret', 'rotate', 'db', '--password=@-'], { input: PW2 });
  expect(rotated.status, rotated.stderr).toBe(0);
  ui = await startUi(e.env);
  browser = await launch();
}, 120_000);

// Each is unset when beforeAll failed part way.
/* eslint-disable @typescript-eslint/no-unnecessary-condition */
afterAll(async () => {
  await session?.close();
  await browser?.close();
  await ui?.stop();
});
/* eslint-enable @typescript-eslint/no-unnecessary-condition */

describe('the browser the tests drive', () => {
  it('is a Chromium whose major version docs/ui.md pairs with the pinned playwright-core', () => {
    const pinned = (JSON.parse(readFileSync('package.json', 'utf8')) as { devDependencies: Record<string, string> })
      .devDependencies['playwright-core'];
    const installed = (
      JSON.parse(readFileSync('node_modules/playwright-core/package.json', 'utf8')) as { version: string }
    ).version;
    // Pinned exactly: a newer protocol may not work with the distribution's Chromium.
    expect(pinned).toBe(installed);
    const docs = readFileSync('docs/ui.md', 'utf8');
    const paired = [...docs.matchAll(/^\| (\d+\.\d+\.\d+) \| (\d+) \|$/gm)]
      .filter((m) => m[1] === installed)
      .map((m) => Number(m[2]));
    expect(paired.length).toBeGreaterThan(0);
    const major = Number(browser.version().split('.')[0]);
    expect(paired).toContain(major);
  });
});

describe('keystack ui: the session', () => {
  it('prints a loopback URL with a token, and refuses every request without the session (401)', async () => {
    expect(ui.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${ui.port}/\\?token=[A-Za-z0-9_-]{40,}$`));
    for (const path of ['/', '/runs', '/api/runs', '/assets/ui.js', `/runs/${deniedRun}`, '/?token=wrong'])
      expect((await raw(ui.port, path, { headers: { Host: `127.0.0.1:${ui.port}` } })).status, path).toBe(401);
    const post = await raw(ui.port, '/search/value', {
      method: 'POST',
      headers: { Host: `127.0.0.1:${ui.port}`, Origin: ui.origin, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `value=${PW1}`,
    });
    expect(post.status).toBe(401);
    expect(post.body).not.toContain(PW1);
  });

  it('refuses a Host other than 127.0.0.1:PORT or localhost:PORT (DNS rebinding), even with the token', async () => {
    const token = new URL(ui.url).search;
    for (const host of [
      `evil.example:${ui.port}`,
      '127.0.0.1',
      `127.0.0.1:${ui.port + 1}`,
      `localhost.evil:${ui.port}`,
    ]) {
      const r = await raw(ui.port, `/${token}`, { headers: { Host: host } });
      expect(r.status, host).toBe(421);
    }
  });

  it('exchanges the token once for an HttpOnly, SameSite=Strict cookie, then refuses it; sends a strict CSP', async () => {
    const { context, received: got } = await recordingContext(browser);
    session = context;
    received = got;
    const page = await context.newPage();
    const first = await page.goto(ui.url);
    // Redirected to a URL without the token.
    expect(page.url()).toBe(`${ui.origin}/`);
    expect(first?.status()).toBe(200);
    const csp = first?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(first?.headers()['x-content-type-options']).toBe('nosniff');
    expect(first?.headers()['referrer-policy']).toBe('no-referrer');
    expect(first?.headers()['cache-control']).toBe('no-store');
    const cookies = await context.cookies();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(cookies[0]?.value).not.toBe(new URL(ui.url).searchParams.get('token'));
    // localhost:PORT is the same server; the session cookie is per host, so a fresh exchange is needed and the token is spent.
    const again = await raw(ui.port, new URL(ui.url).pathname + new URL(ui.url).search, {
      headers: { Host: `127.0.0.1:${ui.port}` },
    });
    expect(again.status).toBe(401);
    // Read-only: no other method, even with the session.
    const cookie = `${cookies[0]?.name}=${cookies[0]?.value}`;
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH'])
      expect(
        (await raw(ui.port, '/runs', { method, headers: { Host: `127.0.0.1:${ui.port}`, Cookie: cookie } })).status,
        method,
      ).toBe(405);
    // The leaked-value POST needs this server's Origin besides the session.
    for (const origin of [undefined, 'http://evil.example', `http://127.0.0.1:${ui.port + 1}`]) {
      const r = await raw(ui.port, '/search/value', {
        method: 'POST',
        headers: {
          Host: `127.0.0.1:${ui.port}`,
          Cookie: cookie,
          'Content-Type': 'application/x-www-form-urlencoded',
          ...(origin ? { Origin: origin } : {}),
        },
        body: `value=${PW1}`,
      });
      expect(r.status, String(origin)).toBe(403);
      expect(r.body).not.toContain(PW1);
    }
    // A second browser (another local user, another profile) cannot use the spent link.
    const other = await browser.newContext();
    const otherPage = await other.newPage();
    const refused = await otherPage.goto(ui.url.replace('127.0.0.1', 'localhost'));
    expect(refused?.status()).toBe(401);
    expect(await other.cookies()).toEqual([]);
    await other.close();
    await page.close();
  });
});

describe('keystack ui: pages', () => {
  it('shows the run, the denial on the step that was denied, the rotated history and the leaked-value search, accessibly', async () => {
    const page = await session.newPage();
    await page.goto(`${ui.origin}/`);
    await expectAccessible(page);
    await expect.poll(() => page.locator('h1').textContent()).toBe('Stacks');
    // A sensitive field given as a plain value is `***`, as `artifact-store list --json` shows it.
    const plainart = page.locator('section[aria-labelledby="components"] tr', { hasText: 'plainart' });
    expect(await plainart.locator('dl.config').textContent()).toBe('encryption_key***');

    await page.getByRole('link', { name: 'Runs' }).click();
    await expectAccessible(page);
    const row = page.locator('tr', { has: page.locator(`a[href="/runs/${deniedRun}"]`) });
    await expect.poll(() => row.textContent()).toContain('denial_demo');
    expect(await row.textContent()).toContain('failed');
    expect(await row.textContent()).toContain('default');

    await row.locator('a').click();
    await expectAccessible(page);
    // The DAG: two nodes, an edge from ok to sneaky, and the denial on sneaky only.
    expect(await page.locator('svg.dag a.node').count()).toBe(2);
    expect(await page.locator('svg.dag path.edge').count()).toBe(1);
    const sneaky = page.locator('svg.dag a.node[data-step="sneaky"]');
    expect(await sneaky.getAttribute('class')).toContain('s-failed');
    expect(await sneaky.locator('.n-denied').textContent()).toBe('denied: db');
    const ok = page.locator('svg.dag a.node[data-step="ok"]');
    expect(await ok.getAttribute('class')).toContain('s-completed');
    expect(await ok.locator('.n-denied').count()).toBe(0);
    expect(await ok.locator('.n-read').textContent()).toBe('read: db');
    expect(await page.locator('#step-sneaky').textContent()).toContain('denied');
    // What `ok` read: the secret, its keys, the version (1, before the rotation) and the outcome.
    expect(await page.locator('#step-ok ul.reads li').textContent()).toMatch(/^db username, password 1 read\s*$/);

    await page.getByRole('link', { name: 'Audit' }).click();
    await expectAccessible(page);
    const refused = page.locator('section[aria-labelledby="refused"] tbody tr');
    expect(await refused.count()).toBe(2);
    const denial = refused.filter({ hasText: 'sneaky' });
    expect(await denial.textContent()).toContain('denied');
    // The leak guard's refusal: the step, what it would have stored, the secret and key; no value.
    const leakRow = refused.filter({ hasText: 'leaker' });
    expect(await leakRow.textContent()).toContain('secret_leak');
    expect(await leakRow.textContent()).toContain("secret 'api' key 'token'");
    expect(await page.locator('section[aria-labelledby="accesses"] tbody').textContent()).toContain('denied');

    await page.getByRole('link', { name: 'Secrets' }).click();
    await expectAccessible(page);
    await page.getByRole('link', { name: 'db', exact: true }).click();
    await expectAccessible(page);
    const versions = page.locator('section[aria-labelledby="versions"] tbody tr');
    expect(await versions.count()).toBe(2);
    expect(await versions.nth(0).textContent()).toContain('current');
    expect(await versions.nth(0).textContent()).toContain('~password');
    expect(await versions.nth(1).textContent()).toContain('previous');
    expect(await page.locator('section[aria-labelledby="used-by"] tbody').textContent()).toContain('sneaky');

    await page.getByRole('link', { name: 'Search' }).click();
    await expectAccessible(page);
    await page.getByLabel('Secret name', { exact: true }).fill('db');
    await page.getByRole('button', { name: 'Search' }).first().click();
    expect(page.url()).toBe(`${ui.origin}/search?secret=db`);
    expect(await page.locator('section[aria-labelledby="results"] tbody tr').count()).toBe(2);

    // The old value: held by nothing now, read by the run's `ok` step.
    await page.getByLabel('Leaked value', { exact: true }).fill(PW1);
    const before = page.url();
    await page.locator('form[action="/search/value"] button').click();
    await page.locator('h1', { hasText: 'Leaked value' }).waitFor();
    await expectAccessible(page);
    // The answer replaced the page: the value went in a POST body only, never into a URL.
    expect(page.url()).toBe(before);
    const reads = page.locator('table', { has: page.locator('caption', { hasText: 'Runs that read it' }) });
    expect(await reads.locator('tbody tr').count()).toBe(1);
    expect(await reads.locator('tbody tr').textContent()).toContain('ok');
    expect(await reads.locator('tbody tr').textContent()).toContain(deniedRun.slice(0, 8));
    // The new value: held by db.password now, read by no run.
    await page.getByLabel('Leaked value', { exact: true }).fill(PW2);
    await page.locator('form[action="/search/value"] button').click();
    const now = page.locator('table', { has: page.locator('caption', { hasText: 'hold this value now' }) });
    await now.waitFor();
    expect(await now.locator('tbody').textContent()).toMatch(/db\s*password/);
    expect(await page.locator('caption', { hasText: 'Runs that read it' }).count()).toBe(0);
    await page.close();
  });

  it('updates a running run live, without a reload by the user', async () => {
    const root = mkdtempSync(join(tmpdir(), 'keystack-ui-slow-'));
    const gate = join(root, 'go');
    writeFileSync(join(root, 'slow.mjs'), SLOW_PIPELINE(gate));
    const run = spawn(process.execPath, [BIN, 'pipeline', 'run', join(root, 'slow.mjs')], {
      env: e.env,
      stdio: 'ignore',
    });
    const done = new Promise<number | null>((res) => run.on('exit', (c) => res(c)));
    try {
      const page = await session.newPage();
      let id = '';
      await expect
        .poll(
          async () => {
            const doc = (await (await page.request.get(`${ui.origin}/api/runs`)).json()) as {
              runs: { id: string; pipeline: string; status: string }[];
            };
            const r = doc.runs.find((x) => x.pipeline === 'slow_demo');
            id = r?.id ?? '';
            return r?.status;
          },
          { timeout: 30_000 },
        )
        .toBe('running');
      await page.goto(`${ui.origin}/runs/${id}`);
      const status = page.locator('dl.facts .badge');
      expect(await status.textContent()).toBe('running');
      expect(await page.locator('svg.dag a.node[data-step="wait"]').getAttribute('class')).toContain('s-running');
      await expectAccessible(page);
      writeFileSync(gate, '');
      // No reload, no click: the page's script sees the change and shows the finished run.
      await page.locator('dl.facts .badge', { hasText: 'completed' }).waitFor({ timeout: 30_000 });
      expect(await page.locator('svg.dag a.node[data-step="wait"]').getAttribute('class')).toContain('s-completed');
      expect(await page.locator('body').getAttribute('data-live')).toBeNull();
      expect(await done).toBe(0);
      await page.close();
    } finally {
      writeFileSync(gate, '');
      await done;
    }
  });
});

describe('keystack ui: no value', () => {
  it('put no secret value (nor its base64, hex or URL form) in any HTML, JSON or script the browser received', () => {
    expect(received.some((r) => r.contentType.startsWith('text/html'))).toBe(true);
    expect(received.some((r) => r.contentType.startsWith('application/json'))).toBe(true);
    expect(received.some((r) => r.contentType.startsWith('text/javascript'))).toBe(true);
    expectNoValue(received, [PW1, PW2, PLAIN, TOKEN]);
  });
});
