/**
 * HTML by string, escaped at one place. Pages are rendered on the server: there is no client
 * framework, and the one client script (assets/ui.js) only polls for changes. Nothing inline: the
 * CSP allows no inline script or style, so every look is a class in assets/ui.css.
 */

/** Text or attribute content, escaped. */
export function esc(value: string | number | null | undefined): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Already-escaped HTML, so that `html` does not escape it twice. */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

type Part = Html | string | number | null | undefined | false | readonly Part[];

function render(p: Part): string {
  if (p === null || p === undefined || p === false) return '';
  if (p instanceof Html) return p.text;
  if (typeof p === 'string' || typeof p === 'number') return esc(p);
  return p.map(render).join('');
}

/** A template tag: interpolated values are escaped unless they are Html (or arrays of it). */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

const NAV = [
  ['/', 'Stacks'],
  ['/secrets', 'Secrets'],
  ['/runs', 'Runs'],
  ['/audit', 'Audit'],
  ['/search', 'Search'],
] as const;

/** The page around a view: nav, one h1, the stylesheet and the client script (both same-origin files). */
export function page(
  title: string,
  current: string,
  body: Html,
  options: { live?: { url: string; state: string } } = {},
): string {
  const nav = NAV.map(
    ([href, label]) =>
      html`<li><a href="${href}"${current === href ? new Html(' aria-current="page"') : ''}>${label}</a></li>`,
  );
  return `<!doctype html>${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title} · keystack</title><link rel="stylesheet" href="/assets/ui.css"><script src="/assets/ui.js" defer></script></head><body${options.live ? html` data-live="${options.live.url}" data-live-state="${options.live.state}"` : ''}><header><span class="brand">keystack</span><nav aria-label="Main"><ul>${nav}</ul></nav><span class="readonly">read-only</span></header><main><h1>${title}</h1>${body}</main></body></html>`.text}`;
}

export function table(
  headers: readonly string[],
  rows: readonly (readonly Part[])[],
  caption?: string,
  empty = 'None.',
): Html {
  if (rows.length === 0) return html`<p class="empty">${empty}</p>`;
  return html`<table>${caption ? html`<caption>${caption}</caption>` : ''}<thead><tr>${headers.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead><tbody>${rows.map((r) => html`<tr>${r.map((c) => html`<td>${c}</td>`)}</tr>`)}</tbody></table>`;
}

export function badge(status: string): Html {
  return html`<span class="badge s-${status.replace(/[^a-z_]/g, '')}">${status}</span>`;
}

export function formatDuration(ms: number | null): string {
  if (ms === null) return '';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
