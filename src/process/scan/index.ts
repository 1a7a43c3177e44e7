/**
 * `keystack scan`: finds the values of known secrets, in every form the leak guard knows, in
 * files. Values arrive already read (the CLI reads them with the user's credentials, into memory
 * only); this module turns them into one MultiMatcher and runs it over each file's bytes.
 */
import {
  DEFAULT_MIN_LEAK_LENGTH,
  leakForms,
  MultiMatcher,
  type LeakEncoding,
  type Match,
} from '../../support/leak-match.js';
import type { SecretsManager } from '../../core/manager.js';
import { SecretNotFoundError } from '../../errors.js';
import type { ScanSource } from './files.js';

export { IGNORE_FILE, MAX_FILE_BYTES, stagedSources, walkSources } from './files.js';
export type { ScanSource, Skipped, SkipReason } from './files.js';
export { IgnoreRules } from './ignore.js';
export { sarifReport, textReport } from './report.js';

/** One value to look for, and whose it is. */
export interface ScanValue {
  manager: string;
  secret: string;
  key: string;
  value: string;
}

/** What a hit stands for: never the value, only whose it is and how it was written. */
export interface FindingTag {
  manager: string;
  secret: string;
  key: string;
  encoding: LeakEncoding;
}

export interface Finding extends FindingTag {
  path: string;
  /** 1-based; in a notebook, within the cell text named by `where`. */
  line: number;
  /** 1-based, in UTF-16 code units (SARIF's default). */
  column: number;
  /** The notebook cell the hit is in. */
  cell?: number;
  /** What the file (or the notebook part) is, when it is more than a file: an MLflow param, a W&B run file, a cell output. */
  where?: string;
  /** The file holds binary data (scanned as bytes). */
  binary?: boolean;
}

export interface Patterns {
  matcher: MultiMatcher<FindingTag>;
  /** Values that produced at least one pattern. */
  values: number;
  /** Values (keys) shorter than the minimum length, not looked for. */
  belowMinimum: number;
}

export interface ScanResult {
  findings: Finding[];
  files: number;
  bytes: number;
}

/** The matcher for every form (leakForms) of every value at least `minLength` characters long. */
export function scanPatterns(values: readonly ScanValue[], minLength = DEFAULT_MIN_LEAK_LENGTH): Patterns {
  const needles: { text: string; tag: FindingTag }[] = [];
  let used = 0;
  let below = 0;
  for (const v of values) {
    const forms = leakForms(v.value, minLength);
    if (forms.length === 0) {
      below++;
      continue;
    }
    used++;
    for (const { form, encoding } of forms)
      needles.push({ text: form, tag: { manager: v.manager, secret: v.secret, key: v.key, encoding } });
  }
  return { matcher: new MultiMatcher(needles), values: used, belowMinimum: below };
}

/** Scans each source's bytes; notebooks are scanned cell by cell, other files as they are stored. */
export function scanSources(sources: Iterable<ScanSource>, matcher: MultiMatcher<FindingTag>): ScanResult {
  const result: ScanResult = { findings: [], files: 0, bytes: 0 };
  for (const src of sources) {
    const buf = src.read();
    result.files++;
    result.bytes += buf.length;
    result.findings.push(...scanFile(src.path, buf, matcher));
  }
  return result;
}

/** The findings in one file's content. */
export function scanFile(path: string, buf: Buffer, matcher: MultiMatcher<FindingTag>): Finding[] {
  const where = runFileContext(path);
  if (/\.ipynb$/i.test(path)) {
    const nb = parseJson(buf);
    if (nb !== undefined) return scanNotebook(path, nb, matcher, where);
  }
  const binary = isBinary(buf);
  return locate(buf, distinct(matcher.scan(buf))).map((hit) => ({
    path,
    ...hit,
    ...(where === undefined ? {} : { where }),
    ...(binary ? { binary } : {}),
  }));
}

// --- Internal helpers ---

type Located = FindingTag & { line: number; column: number };

/**
 * One finding per place a secret key shows: the longest form found at a place wins, and forms
 * inside another form of the same key (a line inside the whole value, base64 without its padding
 * inside the padded one) are not reported again.
 */
function distinct(matches: Iterable<Match<FindingTag>>): Match<FindingTag>[] {
  const all = [...matches].sort((a, b) => a.start - b.start || b.end - a.end);
  const reach = new Map<string, number>();
  const out: Match<FindingTag>[] = [];
  for (const m of all) {
    const id = JSON.stringify([m.tag.manager, m.tag.secret, m.tag.key]);
    const end = reach.get(id);
    if (end !== undefined && m.end <= end) continue;
    reach.set(id, Math.max(end ?? 0, m.end));
    out.push(m);
  }
  return out;
}

/** Line and column of each match (sorted by start), counting newlines once through the buffer. */
function locate(buf: Uint8Array, matches: readonly Match<FindingTag>[]): Located[] {
  const out: Located[] = [];
  let line = 1;
  let lineStart = 0;
  let pos = 0;
  for (const m of matches) {
    for (;;) {
      const nl = buf.indexOf(10, pos);
      if (nl === -1 || nl >= m.start) break;
      line++;
      lineStart = nl + 1;
      pos = nl + 1;
    }
    const column = Buffer.from(buf.subarray(lineStart, m.start)).toString('utf8').length + 1;
    out.push({ ...m.tag, line, column });
  }
  return out;
}

function isBinary(buf: Buffer): boolean {
  return buf.subarray(0, 8000).includes(0);
}

function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * A notebook's texts as Jupyter shows them: every string, with the list-of-lines form of nbformat's
 * multi-line strings joined, so that a value is found as it was printed (not JSON-escaped) and
 * located by cell and line within the cell's source or output.
 */
function scanNotebook(
  path: string,
  nb: unknown,
  matcher: MultiMatcher<FindingTag>,
  fileWhere: string | undefined,
): Finding[] {
  const out: Finding[] = [];
  const visit = (node: unknown, at: (string | number)[]): void => {
    const text =
      typeof node === 'string'
        ? node
        : Array.isArray(node) && node.length > 0 && node.every((x) => typeof x === 'string')
          ? node.join('')
          : undefined;
    if (text !== undefined) {
      const buf = Buffer.from(text, 'utf8');
      const cell = at[0] === 'cells' && typeof at[1] === 'number' ? at[1] : undefined;
      const where = notebookPart(at) ?? fileWhere;
      for (const hit of locate(buf, distinct(matcher.scan(buf))))
        out.push({
          path,
          ...hit,
          ...(cell === undefined ? {} : { cell }),
          ...(where === undefined ? {} : { where }),
        });
      return;
    }
    if (Array.isArray(node)) node.forEach((x, i) => visit(x, [...at, i]));
    else if (node !== null && typeof node === 'object')
      for (const [k, v] of Object.entries(node as Record<string, unknown>)) visit(v, [...at, k]);
  };
  visit(nb, []);
  return out;
}

/** `cell 3 source`, `cell 3 output 0`, or the JSON path of anything else in a notebook. */
function notebookPart(at: readonly (string | number)[]): string | undefined {
  if (at[0] === 'cells' && typeof at[1] === 'number') {
    if (at[2] === 'source') return `cell ${at[1]} source`;
    if (at[2] === 'outputs' && typeof at[3] === 'number') return `cell ${at[1]} output ${at[3]}`;
    return `cell ${at[1]} ${at.slice(2).join('.')}`;
  }
  return at.length === 0 ? undefined : `notebook ${at.join('.')}`;
}

/**
 * Names what an MLflow or W&B run file is: in `mlruns/<experiment>/<run>/`, params, tags and
 * metrics are one plain file per name and artifacts a tree; W&B keeps a run per `wandb/<run dir>/`.
 */
function runFileContext(path: string): string | undefined {
  const parts = path.split('/');
  const ml = parts.lastIndexOf('mlruns');
  if (ml !== -1 && parts.length > ml + 3) {
    const run = parts[ml + 2] ?? '';
    const kind = parts[ml + 3] ?? '';
    const name = parts.slice(ml + 4).join('/');
    const what = { params: 'param', tags: 'tag', metrics: 'metric', artifacts: 'artifact' }[kind];
    if (what !== undefined && name !== '') return `MLflow ${what} '${name}' of run ${run}`;
    return `MLflow run ${run} file ${parts.slice(ml + 3).join('/')}`;
  }
  const wb = parts.lastIndexOf('wandb');
  if (wb !== -1 && parts.length > wb + 2) {
    const dir = parts[wb + 1] ?? '';
    const id = /(?:^|-)([a-z0-9]+)$/.exec(dir)?.[1] ?? dir;
    return `W&B run ${id} file ${parts.slice(wb + 2).join('/')}`;
  }
  return undefined;
}

/**
 * Every (secret, key) value of each manager, read with the caller's own credentials into memory
 * only. A secret deleted between the list and the read is left out; any other failure stops the
 * scan, since a scan that silently missed a manager's secrets would report a false "clean".
 */
export async function readScanValues(managers: readonly SecretsManager[]): Promise<ScanValue[]> {
  const out: ScanValue[] = [];
  for (const m of managers) {
    const names = await m.list();
    const secrets = await inBatches(names, 8, async (name) => {
      try {
        return await m.get(name);
      } catch (e) {
        if (e instanceof SecretNotFoundError) return undefined;
        throw e;
      }
    });
    for (const s of secrets) {
      if (!s) continue;
      for (const [key, value] of Object.entries(s.values)) out.push({ manager: m.name, secret: s.name, key, value });
    }
  }
  return out;
}

async function inBatches<T, R>(items: readonly T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}
