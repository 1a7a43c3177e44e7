/**
 * What the dashboard tests share: `keystack ui` started as a user starts it (the built CLI, --json,
 * reading the first document), Debian's Chromium driven by playwright-core, every response the
 * browser received kept for the no-value checks, and axe-core on a page.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'vitest';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { BIN } from '../support/cli.js';

/** Debian's chromium package (scripts/emulators/install.sh installs it); Playwright's download does not work here. */
export const CHROMIUM = process.env['KEYSTACK_TEST_CHROMIUM'] ?? '/usr/bin/chromium';

/** `ok` reads its declared `db`; `sneaky` reads `db` without declaring it and is denied. */
export const DENIAL_PIPELINE = (lib: string): string => `
import { pipeline, step } from '${lib}';
const ok = step({ name: 'ok', secrets: ['db'], enableCache: false, run: async (_i, ctx) => {
  const s = await ctx.secrets.get('db');
  return { n: s.values.password.length };
} });
const sneaky = step({ name: 'sneaky', enableCache: false, run: async ({ r }, ctx) => {
  await ctx.secrets.get('db');
  return r.n;
} });
export default pipeline('denial_demo', () => sneaky({ r: ok() }));
`;

export interface UiProcess {
  proc: ChildProcess;
  url: string;
  port: number;
  origin: string;
  output(): string;
  stop(): Promise<void>;
}

/** `keystack --json ui --no-open`, resolved once it printed `{url, port}`. */
export function startUi(env: Record<string, string>, cwd?: string): Promise<UiProcess> {
  const proc = spawn(process.execPath, [BIN, '--json', 'ui', '--no-open'], {
    env,
    cwd: cwd ?? process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((res) => proc.on('exit', () => res()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`keystack ui did not start:\n${stdout}${stderr}`)), 30_000);
    proc.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      let doc: { url: string; port: number };
      try {
        doc = JSON.parse(stdout) as { url: string; port: number };
      } catch {
        return;
      }
      clearTimeout(timer);
      resolve({
        proc,
        url: doc.url,
        port: doc.port,
        origin: `http://127.0.0.1:${doc.port}`,
        output: () => stdout + stderr,
        stop: async () => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
          await exited;
        },
      });
    });
    void exited.then(() => reject(new Error(`keystack ui exited:\n${stdout}${stderr}`)));
  });
}

export function launch(): Promise<Browser> {
  // Root (CI containers) cannot use Chromium's sandbox.
  return chromium.launch({
    executablePath: CHROMIUM,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}

export interface Received {
  url: string;
  contentType: string;
  body: string;
}

/**
 * A browser context that keeps the body of every response it receives. A redirect has no body.
 * Chromium may also have dropped a body before it is asked for (Chromium 156: "No resource with
 * given identifier found", for the dashboard's JSON): a GET is then made again in this context,
 * with its session, so that what the server sends for that URL is still checked. A body that
 * cannot be had either way is recorded with the content type `unavailable`, which the callers'
 * checks for each kind of response do not count.
 */
export async function recordingContext(browser: Browser): Promise<{ context: BrowserContext; received: Received[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const received: Received[] = [];
  context.on('response', (r) => {
    const contentType = r.headers()['content-type'] ?? '';
    const keep = (body: Buffer | string, type = contentType) =>
      received.push({ url: r.url(), contentType: type, body: body.toString() });
    void r.body().then(keep, async () => {
      if (r.status() >= 300 && r.status() < 400) return keep('', '');
      if (r.request().method() !== 'GET') return keep('', 'unavailable');
      const again = await context.request.get(r.url()).catch(() => undefined);
      return again?.ok() ? keep(await again.body()) : keep('', 'unavailable');
    });
  });
  return { context, received };
}

/** No serious or critical axe-core violation on the page as it is now. */
export async function expectAccessible(page: Page): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join('; ')}`);
  expect(bad, page.url()).toEqual([]);
}

/** The forms of a value that must not appear in anything the browser received. */
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

export function expectNoValue(received: readonly Received[], values: readonly string[]): void {
  expect(received.length).toBeGreaterThan(5);
  for (const r of received)
    for (const v of values)
      for (const f of forms(v)) expect(r.body.includes(f) || r.url.includes(f), `${f} in ${r.url}`).toBe(false);
}
