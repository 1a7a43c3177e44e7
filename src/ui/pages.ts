/**
 * The dashboard's pages, each rendered from what a UiSource returns (the CLI's `--json` data).
 * No page has a value to show: the source never returns one, and the leaked-value search page
 * renders what was found, never what was posted.
 */
import type { Html } from './html.js';
import { badge, formatDuration, html, page, table } from './html.js';
import { dagSvg } from './dag.js';
import type { AccessEntry, RunRecord, StepItem, UiSource, ValueMatches } from './source.js';

/** Step errors that mean keystack refused the step: a denial, or the leak guard. */
export const REFUSAL_PREFIXES = ['denied: ', 'secret_leak: '] as const;

const runLink = (id: string) => html`<a href="/runs/${encodeURIComponent(id)}"><code>${id.slice(0, 8)}</code></a>`;
const secretLink = (manager: string, name: string) =>
  html`<a href="/secrets/${encodeURIComponent(manager)}/${encodeURIComponent(name)}">${name}</a>`;

function runDuration(r: RunRecord): string {
  return r.endedAt ? formatDuration(Date.parse(r.endedAt) - Date.parse(r.startedAt)) : '';
}

function config(c: Record<string, unknown>): Html {
  const entries = Object.entries(c);
  if (entries.length === 0) return html``;
  return html`<dl class="config">${entries.map(([k, v]) => html`<dt>${k}</dt><dd><code>${typeof v === 'string' ? v : JSON.stringify(v)}</code></dd>`)}</dl>`;
}

function outcome(a: AccessEntry): Html {
  const text = a.outcome === 'error' && a.errorCode !== null ? `error (${a.errorCode})` : a.outcome;
  return badge(text === a.outcome ? a.outcome : 'error');
}

function accessCells(a: AccessEntry): Html[] {
  return [
    html`${secretLink(a.manager.name, a.secret)}${a.pinned === null ? '' : html` <span class="pin">@${a.pinned}</span>`}`,
    html`${a.keys.length === 0 ? (a.outcome === 'read' ? '' : '(all)') : a.keys.join(', ')}`,
    html`${a.version ?? '-'}`,
    html`${outcome(a)}${a.errorCode !== null && a.outcome === 'error' ? html` <code>${a.errorCode}</code>` : ''}`,
    html`${a.worker ?? ''}`,
  ];
}

const ACCESS_HEADERS = ['Secret', 'Keys', 'Version', 'Outcome', 'Worker'];

function accessTable(accesses: readonly AccessEntry[], caption?: string): Html {
  return table(
    ['At', 'Run', 'Pipeline', 'Step', ...ACCESS_HEADERS],
    accesses.map((a) => [a.at, runLink(a.runId), a.pipeline, a.step ?? a.component ?? '', ...accessCells(a)]),
    caption,
  );
}

export async function stacksPage(source: UiSource): Promise<string> {
  const [stacks, components] = await Promise.all([source.stacks(), source.components()]);
  const checks = await Promise.all(stacks.map((s) => source.checkStack(s.name).catch((e: unknown) => errorOf(e))));
  const sections = stacks.map((s, i) => {
    const check = checks[i];
    const refs =
      check === undefined
        ? html``
        : 'message' in check
          ? html`<p class="problem">Cannot check this stack: <code>${check.code}</code> ${check.message}</p>`
          : html`${table(
              ['Reference', 'Status'],
              check.references.map((r) => [html`<code>${r.reference}</code>`, badge(r.status)]),
              `References (level ${check.level})`,
              'No secret references.',
            )}${check.problems.map((p) => html`<p class="problem">${p}</p>`)}`;
    const parts = Object.entries(s.components).filter(([, v]) => v !== undefined);
    return html`<section aria-labelledby="stack-${s.id}"><h2 id="stack-${s.id}">${s.name}${s.active ? html` <span class="badge s-active">active</span>` : ''}</h2>${table(
      ['Component', 'Name'],
      [...parts.map(([k, v]) => [k, v ?? '']), ...s.stepOperators.map((o) => ['stepOperator', o])],
    )}${refs}</section>`;
  });
  const comps = table(
    ['Type', 'Name', 'Flavor', 'In the active stack', 'Config'],
    components.map((c) => [c.type, c.name, c.flavor, c.active ? 'yes' : '', config(c.config)]),
  );
  return page(
    'Stacks',
    '/',
    html`${stacks.length === 0 ? html`<p class="empty">No stacks.</p>` : sections}<section aria-labelledby="components"><h2 id="components">Components</h2>${comps}</section>`,
  );
}

export async function secretsPage(source: UiSource): Promise<string> {
  const managers = await source.managers();
  const lists = await Promise.all(managers.map((m) => source.secrets(m.name).catch((e: unknown) => errorOf(e))));
  const sections = managers.map((m, i) => {
    const list = lists[i];
    const body =
      list === undefined
        ? html``
        : 'message' in list
          ? html`<p class="problem">Cannot list: <code>${list.code}</code> ${list.message}</p>`
          : list.length === 0
            ? html`<p class="empty">No secrets.</p>`
            : html`<ul class="secrets">${list.map((n) => html`<li>${secretLink(m.name, n)}</li>`)}</ul>`;
    return html`<section aria-labelledby="m-${m.id}"><h2 id="m-${m.id}">${m.name} <span class="flavor">(${m.flavor})</span>${m.active ? html` <span class="badge s-active">active</span>` : ''}</h2>${config(m.config)}${body}</section>`;
  });
  return page(
    'Secrets',
    '/secrets',
    html`<p class="note">Names, keys, versions and who read them. Values are never shown.</p>${sections}`,
  );
}

export async function secretPage(source: UiSource, manager: string, name: string): Promise<string> {
  const [d, versions, reads] = await Promise.all([
    source.describeSecret(manager, name),
    source.history(manager, name).catch((e: unknown) => errorOf(e)),
    source.usedBy(name, manager),
  ]);
  const changes = (c: { added: string[]; removed: string[]; changed: string[] } | null) =>
    c
      ? [...c.added.map((k) => `+${k}`), ...c.removed.map((k) => `-${k}`), ...c.changed.map((k) => `~${k}`)].join(
          ' ',
        ) || '(same values)'
      : '';
  const history =
    'message' in versions
      ? html`<p class="problem">No history: <code>${versions.code}</code> ${versions.message}</p>`
      : table(
          ['Version', 'Created', 'Labels', 'Keys', 'Changed', 'Writer'],
          versions.map((v) => [
            html`<code>${v.version}</code>`,
            v.createdAt ?? 'unknown',
            html`${v.labels.map((l) => html`<span class="label">${l}</span> `)}`,
            v.keys ? v.keys.join(', ') : v.readable ? '' : '(retired)',
            changes(v.changes),
            v.writer ?? '',
          ]),
          'Versions, newest first',
        );
  return page(
    `Secret ${name}`,
    '/secrets',
    html`<dl class="facts"><dt>Manager</dt><dd>${d.manager}</dd><dt>Schema</dt><dd>${d.schema}</dd><dt>Keys</dt><dd>${d.keys.join(', ') || '(none)'}</dd><dt>Created</dt><dd>${d.createdAt ?? 'unknown'}</dd><dt>Updated</dt><dd>${d.updatedAt ?? 'unknown'}</dd></dl><section aria-labelledby="versions"><h2 id="versions">History</h2>${history}</section><section aria-labelledby="used-by"><h2 id="used-by">Used by</h2>${accessTable(reads)}</section>`,
  );
}

export async function runsPage(source: UiSource): Promise<string> {
  const runs = await source.runs(50);
  const live = runs.some((r) => r.status === 'running');
  return page(
    'Runs',
    '/runs',
    table(
      ['Run', 'Pipeline', 'Status', 'Stack', 'Orchestrator', 'Started', 'Duration'],
      runs.map((r) => [
        runLink(r.id),
        r.pipeline,
        badge(r.status),
        r.stack,
        r.orchestrator,
        r.startedAt,
        runDuration(r),
      ]),
    ),
    live ? { live: { url: '/api/runs', state: runs.map((r) => `${r.id}:${r.status}`).join(',') } } : {},
  );
}

function declaredText(s: StepItem): string {
  return s.declared === null ? '(none)' : s.declared === '*' ? "'*' (any)" : s.declared.join(', ');
}

export async function runPage(source: UiSource, id: string): Promise<string> {
  const { run, steps, accesses } = await source.run(id);
  const rows = steps.map((s) => {
    const reads =
      s.accesses.length === 0
        ? html`<span class="empty">(nothing read)</span>`
        : html`<ul class="reads">${s.accesses.map(
            (a) =>
              html`<li>${accessCells(a)
                .slice(0, 4)
                .map((c) => html`${c} `)}</li>`,
          )}</ul>`;
    return html`<tr id="step-${s.step}"><th scope="row">${s.step}</th><td>${badge(s.status)}</td><td>${formatDuration(s.durationMs)}</td><td>${s.worker ?? ''}</td><td>${s.attempts ?? ''}</td><td>${declaredText(s)}</td><td>${reads}</td><td>${s.error ?? ''}</td></tr>`;
  });
  const facts = html`<dl class="facts"><dt>Run</dt><dd><code>${run.id}</code></dd><dt>Pipeline</dt><dd>${run.pipeline}</dd><dt>Status</dt><dd>${badge(run.status)}</dd><dt>Stack</dt><dd>${run.stack}</dd><dt>Orchestrator</dt><dd>${run.orchestrator}</dd><dt>Started</dt><dd>${run.startedAt}</dd><dt>Duration</dt><dd>${runDuration(run)}</dd>${run.error ? html`<dt>Error</dt><dd>${run.error}</dd>` : ''}</dl>`;
  return page(
    `Run ${run.id.slice(0, 8)} (${run.pipeline})`,
    '/runs',
    html`${facts}<section aria-labelledby="dag"><h2 id="dag">Steps</h2><div class="dag-wrap">${dagSvg(steps, `The DAG of run ${run.id.slice(0, 8)}: ${steps.map((s) => `${s.step} ${s.status}`).join(', ')}`)}</div><table><thead><tr><th scope="col">Step</th><th scope="col">Status</th><th scope="col">Duration</th><th scope="col">Worker</th><th scope="col">Attempts</th><th scope="col">Declared</th><th scope="col">Read (secret, keys, version, outcome)</th><th scope="col">Error</th></tr></thead><tbody>${rows}</tbody></table></section>${accesses.length > 0 ? html`<section aria-labelledby="outside"><h2 id="outside">Read outside steps</h2>${accessTable(accesses)}</section>` : ''}`,
    run.status === 'running'
      ? {
          live: {
            url: `/api/runs/${encodeURIComponent(run.id)}`,
            // What assets/ui.js compares the polled document with: the statuses only.
            state: [run.status, ...steps.map((s) => `${s.step}:${s.status}`)].join(','),
          },
        }
      : {},
  );
}

export async function auditPage(source: UiSource): Promise<string> {
  const [accesses, runs] = await Promise.all([source.audit(100), source.runs(50)]);
  const refused: { run: RunRecord; step: StepItem }[] = [];
  for (const r of runs.filter((r) => r.status === 'failed')) {
    const d = await source.run(r.id);
    for (const s of d.steps)
      if (REFUSAL_PREFIXES.some((p) => s.error?.startsWith(p))) refused.push({ run: r, step: s });
  }
  const kind = (e: string | null) => (e?.startsWith('secret_leak: ') ? 'leak guard' : 'denied');
  return page(
    'Audit',
    '/audit',
    html`<section aria-labelledby="refused"><h2 id="refused">Refused steps</h2>${table(
      ['Run', 'Pipeline', 'Step', 'Refused by', 'Error'],
      refused.map(({ run, step }) => [runLink(run.id), run.pipeline, step.step, kind(step.error), step.error ?? '']),
    )}</section><section aria-labelledby="accesses"><h2 id="accesses">Denied, missing and failed accesses</h2>${accessTable(accesses)}</section>`,
  );
}

function searchForms(secret: string): Html {
  return html`<section aria-labelledby="by-name"><h2 id="by-name">Which runs read a secret?</h2><form method="get" action="/search" class="search"><label for="secret">Secret name</label><input id="secret" name="secret" value="${secret}" autocomplete="off"><button type="submit">Search</button></form></section><section aria-labelledby="by-value"><h2 id="by-value">Which runs read this leaked value?</h2><p class="note">The value is sent once in the body of a POST, fingerprinted on this machine with the provenance key, and neither shown, logged nor kept.</p><form method="post" action="/search/value" class="search"><label for="value">Leaked value</label><input id="value" name="value" type="password" autocomplete="off" required><label for="manager">Manager (default: the active stack's)</label><input id="manager" name="manager" autocomplete="off"><button type="submit">Search</button></form></section>`;
}

export async function searchPage(source: UiSource, secret: string): Promise<string> {
  const results =
    secret === ''
      ? html``
      : html`<section aria-labelledby="results"><h2 id="results">Runs that accessed ${secret}</h2>${accessTable(await source.usedBy(secret))}</section>`;
  return page('Search', '/search', html`${searchForms(secret)}${results}`);
}

export function valueResultsPage(found: ValueMatches): string {
  const current = table(
    ['Secret', 'Key'],
    found.current.map((c) => [secretLink(found.manager.name, c.secret), c.key]),
    `Secrets of ${found.manager.name} that hold this value now`,
  );
  const reads = table(
    ['At', 'Run', 'Pipeline', 'Step', 'Secret', 'Key', 'Version', 'Worker'],
    found.reads.map((r) => [
      r.at,
      runLink(r.runId),
      r.pipeline,
      r.step ?? r.component ?? '',
      secretLink(r.manager.name, r.secret),
      r.key,
      r.version ?? '-',
      r.worker ?? '',
    ]),
    'Runs that read it, newest first',
  );
  const unreadable =
    found.unreadable.length > 0
      ? html`<p class="problem">Not compared (could not be read): ${found.unreadable.map((u) => `${u.secret} (${u.errorCode})`).join(', ')}</p>`
      : '';
  return page(
    'Leaked value',
    '/search',
    html`<section aria-labelledby="found"><h2 id="found">Where the value is</h2>${current}${unreadable}${reads}</section>${searchForms('')}`,
  );
}

export function errorPage(status: number, code: string, message: string): string {
  return page(`Error ${status}`, '', html`<p class="problem"><code>${code}</code> ${message}</p>`);
}

export function errorOf(e: unknown): { code: string; message: string } {
  const code = (e as { code?: unknown } | null)?.code;
  return { code: typeof code === 'string' ? code : 'error', message: e instanceof Error ? e.message : String(e) };
}
