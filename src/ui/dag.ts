/**
 * A run drawn as its DAG: @dagrejs/dagre lays the steps out (left to right, edges from each step's
 * upstream steps) and this turns the layout into SVG. Colours come from classes in ui.css (the CSP
 * allows no inline style); the table under the drawing carries the same facts for screen readers.
 */
import dagreModule from '@dagrejs/dagre';
import { formatDuration, html, type Html } from './html.js';
import type { StepItem } from './source.js';

interface Point {
  x: number;
  y: number;
}
interface EdgeId {
  v: string;
  w: string;
}
/** The part of dagre's graph this file uses, typed here (its declarations resolve through graphlib's). */
interface LayoutGraph {
  setGraph(label: Record<string, unknown>): void;
  setDefaultEdgeLabel(fn: () => object): void;
  setNode(id: string, label: { width: number; height: number }): void;
  setEdge(v: string, w: string): void;
  graph(): { width?: number; height?: number };
  node(id: string): Point;
  edges(): EdgeId[];
  edge(e: EdgeId): { points?: Point[] };
}
const dagre = dagreModule as unknown as {
  graphlib: { Graph: new () => LayoutGraph };
  layout(g: LayoutGraph): void;
};

const W = 200;
const H = 64;

export function dagSvg(steps: readonly StepItem[], title: string): Html {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 24, ranksep: 48, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const s of steps) g.setNode(s.step, { width: W, height: H });
  const known = new Set(steps.map((s) => s.step));
  for (const s of steps) for (const u of s.upstream) if (known.has(u)) g.setEdge(u, s.step);
  dagre.layout(g);
  const graph = g.graph();
  const width = Math.ceil(graph.width ?? W);
  const height = Math.ceil(graph.height ?? H);
  const edges = g.edges().map((e) => {
    const points = g.edge(e).points ?? [];
    const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
    return html`<path class="edge" d="${d}" marker-end="url(#arrow)"/>`;
  });
  const nodes = steps.map((s) => {
    const n = g.node(s.step);
    const x = n.x - W / 2;
    const y = n.y - H / 2;
    const denied = s.accesses.filter((a) => a.outcome === 'denied').map((a) => a.secret);
    const facts = [
      formatDuration(s.durationMs),
      s.worker ?? '',
      s.attempts !== null && s.attempts > 1 ? `${s.attempts} attempts` : '',
    ]
      .filter((f) => f !== '')
      .join(' · ');
    return html`<a href="#step-${s.step}" class="node s-${s.status}" data-step="${s.step}"><rect x="${x}" y="${y}" width="${W}" height="${H}" rx="6"/><text x="${x + 10}" y="${y + 18}" class="n-name">${s.step}</text><text x="${x + 10}" y="${y + 35}" class="n-status">${s.status}${facts ? ` · ${facts}` : ''}</text>${denied.length > 0 ? html`<text x="${x + 10}" y="${y + 52}" class="n-denied">denied: ${denied.join(', ')}</text>` : s.accesses.length > 0 ? html`<text x="${x + 10}" y="${y + 52}" class="n-read">read: ${[...new Set(s.accesses.map((a) => a.secret))].join(', ')}</text>` : ''}</a>`;
  });
  return html`<svg class="dag" role="group" aria-labelledby="dag-title" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg"><title id="dag-title">${title}</title><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>${edges}${nodes}</svg>`;
}
