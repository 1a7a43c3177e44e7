/**
 * `keystack ui` after a real local run and a real remote run on two bullmq workers (OpenBao for
 * the remote secrets, moto's S3 for artifacts, Redis for the queue), in Debian's Chromium: the run
 * list, each run's DAG with worker, duration and the secrets read, a denial on its step, a rotated
 * secret's history; axe-core on each page; no value in anything received. It also regenerates the
 * screenshots in docs/images/ that README.md and docs/ui.md show.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { loadProvenanceKey } from '../../src/stack/provenance-key.js';
import { cliEnv, codeRoot, LIB, runCli, startWorkerProcess, type WorkerProcess } from '../remote/harness.js';
import { DEMO_PIPELINE, queues, remoteFixture, type RemoteFixture } from '../remote/fixture.js';
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

const PW1 = 'pw-dash-first-Qm29xk';
const PW2 = 'pw-dash-rotated-Lr83vb';
const IMAGES = 'docs/images';

let f: RemoteFixture;
const workers: WorkerProcess[] = [];
let ui: UiProcess;
let browser: Browser;
let context: BrowserContext;
let received: Received[] = [];
let remoteRun = '';
let localRun = '';

function runIdOf(stdout: string): string {
  return (JSON.parse(stdout) as { run: { id: string } }).run.id;
}

beforeAll(async () => {
  f = await remoteFixture();
  const q = queues(f);
  // The workers fingerprint what they read with the client's provenance key, as a deployment shares it.
  const provenance = { KEYSTACK_PROVENANCE_KEY: loadProvenanceKey(f.configDir, {}).toString('base64') };
  const root = codeRoot({ 'pipelines/demo.mjs': DEMO_PIPELINE, 'pipelines/denial.mjs': DENIAL_PIPELINE(LIB) });
  workers.push(
    await startWorkerProcess({
      name: 'cpu1',
      client: f.configDir,
      queues: [q.main],
      codeRoot: codeRoot({ 'pipelines/demo.mjs': DEMO_PIPELINE }),
      env: { VAULT_TOKEN: f.tokens.cpu, ...provenance },
    }),
    await startWorkerProcess({
      name: 'gpu1',
      client: f.configDir,
      queues: [q.gpu],
      codeRoot: codeRoot({ 'pipelines/demo.mjs': DEMO_PIPELINE }),
      env: { VAULT_TOKEN: f.tokens.gpu, ...provenance },
    }),
  );
  const env = cliEnv(f.configDir, f.clientEnv);
  const remote = await runCli(['--json', 'pipeline', 'run', 'pipelines/demo.mjs'], env, root);
  expect(remote.status, remote.stderr).toBe(0);
  remoteRun = runIdOf(remote.stdout);
  // The local runs use the default stack (local orchestrator, the local store) in the same config dir.
  const local = { ...env, KEYSTACK_STACK: 'default' };
  const { spawnSync } = await import('node:child_process');
  const { BIN } = await import('../support/cli.js');
  const reg = spawnSync(process.execPath, [BIN, 'secret', 'register', 'db', '--username=admin', '--password=@-'], {
    env: local,
    input: PW1,
    encoding: 'utf8',
  });
  expect(reg.status, reg.stderr).toBe(0);
  const denied = await runCli(['--json', 'pipeline', 'run', 'pipelines/denial.mjs'], local, root);
  expect(denied.status, denied.stderr).toBe(1);
  const listed = await runCli(['--json', 'pipeline', 'runs', 'list', '-n', '1'], local);
  localRun = (JSON.parse(listed.stdout) as { runs: { id: string }[] }).runs[0]?.id ?? '';
  const rotate = spawnSync(process.execPath, [BIN, 'secret', 'rotate', 'db', '--password=@-'], {
    env: local,
    input: PW2,
    encoding: 'utf8',
  });
  expect(rotate.status, rotate.stderr).toBe(0);
  ui = await startUi(env);
  browser = await launch();
  const rec = await recordingContext(browser);
  context = rec.context;
  received = rec.received;
}, 300_000);

// Each is unset when beforeAll failed part way.
/* eslint-disable @typescript-eslint/no-unnecessary-condition */
afterAll(async () => {
  await context?.close();
  await browser?.close();
  await ui?.stop();
  await Promise.all(workers.map((w) => w.stop()));
  await f?.ks.close();
});
/* eslint-enable @typescript-eslint/no-unnecessary-condition */

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(IMAGES, { recursive: true });
  const file = join(IMAGES, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG');
  expect(statSync(file).size).toBeGreaterThan(10_000);
}

describe('keystack ui after a local and a two-worker remote run', () => {
  it('lists both runs with status, duration and orchestrator', async () => {
    const page = await context.newPage();
    await page.goto(ui.url);
    await shot(page, 'ui-stacks');
    await expectAccessible(page);
    // The remote stack's references, checked as `stack validate` checks them.
    const remoteStack = page.locator('section', { has: page.locator('h2', { hasText: /^remote/ }) });
    expect(await remoteStack.textContent()).toContain('{{redis.url}}');
    expect(await remoteStack.locator('.badge.s-exists').count()).toBeGreaterThan(0);

    await page.getByRole('link', { name: 'Runs' }).click();
    await expectAccessible(page);
    const remoteRow = page.locator('tr', { has: page.locator(`a[href="/runs/${remoteRun}"]`) });
    const localRow = page.locator('tr', { has: page.locator(`a[href="/runs/${localRun}"]`) });
    expect(await remoteRow.textContent()).toMatch(/remote_demo.*completed.*remote.*bq.*\d+(\.\d+)? (ms|s)$/);
    expect(await localRow.textContent()).toMatch(/denial_demo.*failed.*default.*default/);
    await shot(page, 'ui-runs');
    await page.close();
  });

  it("draws the remote run's DAG with each step's worker, and the secrets each step declared and read", async () => {
    const page = await context.newPage();
    await page.goto(`${ui.origin}/runs/${remoteRun}`);
    await expectAccessible(page);
    const nodes = page.locator('svg.dag a.node');
    expect(await nodes.count()).toBe(7);
    // load → square, cube, embed → join → train → report
    expect(await page.locator('svg.dag path.edge').count()).toBe(8);
    for (const step of ['load', 'square', 'cube', 'embed', 'join', 'train', 'report'])
      expect(await page.locator(`svg.dag a.node[data-step="${step}"]`).getAttribute('class')).toContain('s-completed');
    expect(await page.locator('svg.dag a.node[data-step="embed"] .n-status').textContent()).toContain('gpu1');
    expect(await page.locator('svg.dag a.node[data-step="train"] .n-status').textContent()).toContain('cpu1');
    expect(await page.locator('svg.dag a.node[data-step="embed"] .n-read').textContent()).toBe('read: gpu_creds');
    expect(await page.locator('svg.dag a.node[data-step="train"] .n-read').textContent()).toBe('read: cpu_creds');
    // Laid out left to right: every edge goes rightwards.
    const x = async (s: string) =>
      Number(await page.locator(`svg.dag a.node[data-step="${s}"] rect`).getAttribute('x'));
    expect(await x('load')).toBeLessThan(await x('embed'));
    expect(await x('embed')).toBeLessThan(await x('join'));
    expect(await x('train')).toBeLessThan(await x('report'));
    const embed = page.locator('#step-embed');
    expect(await embed.textContent()).toContain('gpu1');
    expect(await embed.locator('td').nth(4).textContent()).toBe('gpu_creds');
    expect(await embed.locator('ul.reads li').textContent()).toMatch(/^gpu_creds token 1 read/);
    await shot(page, 'ui-run-remote');
    await page.close();
  });

  it('shows the denial on the step that was denied, and the audit', async () => {
    const page = await context.newPage();
    await page.goto(`${ui.origin}/runs/${localRun}`);
    await expectAccessible(page);
    expect(await page.locator('svg.dag a.node[data-step="sneaky"] .n-denied').textContent()).toBe('denied: db');
    expect(await page.locator('svg.dag a.node[data-step="ok"] .n-denied').count()).toBe(0);
    await shot(page, 'ui-run-denied');
    await page.getByRole('link', { name: 'Audit' }).click();
    await expectAccessible(page);
    expect(await page.locator('section[aria-labelledby="refused"] tbody').textContent()).toContain('sneaky');
    await shot(page, 'ui-audit');
    await page.close();
  });

  it("shows a rotated secret's versions with labels, and who read which", async () => {
    const page = await context.newPage();
    await page.goto(`${ui.origin}/secrets`);
    await expectAccessible(page);
    // Both managers: the remote stack's vault and the local store.
    expect(await page.locator('main h2').allTextContents()).toEqual(
      expect.arrayContaining([expect.stringMatching(/^vault \(vault\)/), expect.stringMatching(/^default \(local\)/)]),
    );
    await page.goto(`${ui.origin}/secrets/default/db`);
    await expectAccessible(page);
    const versions = page.locator('section[aria-labelledby="versions"] tbody tr');
    expect(await versions.count()).toBe(2);
    expect(await versions.nth(0).locator('.label').allTextContents()).toContain('current');
    expect(await versions.nth(1).locator('.label').allTextContents()).toContain('previous');
    expect(await page.locator('section[aria-labelledby="used-by"] tbody').textContent()).toMatch(/ok.*db.*1.*read/);
    await shot(page, 'ui-secret');
    await page.close();
  });

  it('finds the runs that read a leaked value, posted once and never shown back', async () => {
    const page = await context.newPage();
    await page.goto(`${ui.origin}/search`);
    await expectAccessible(page);
    await page.getByLabel('Leaked value', { exact: true }).fill(f.secrets.gpu);
    await page.getByLabel(/^Manager/).fill('vault');
    const before = page.url();
    await page.locator('form[action="/search/value"] button').click();
    await page.locator('h1', { hasText: 'Leaked value' }).waitFor();
    await expectAccessible(page);
    // The answer replaced the page: the value went in a POST body only, never into a URL.
    expect(page.url()).toBe(before);
    const reads = page.locator('table', { has: page.locator('caption', { hasText: 'Runs that read it' }) });
    expect(await reads.locator('tbody').textContent()).toContain('embed');
    expect(await reads.locator('tbody').textContent()).toContain(remoteRun.slice(0, 8));
    expect(await reads.locator('tbody').textContent()).toContain('gpu1');
    await shot(page, 'ui-search');
    await page.close();
  });

  it('put no secret value in any HTML, JSON or script the browser received', () => {
    expectNoValue(received, [PW1, PW2, f.secrets.cpu, f.secrets.gpu, f.secrets.storeKey]);
  });
});
