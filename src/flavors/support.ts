/**
 * Helpers every flavor file uses: lazy SDK loading, error wrapping that leaks nothing, and the one
 * call wrapper (retries within a budget, Retry-After, network codes, timeouts) a flavor feeds with
 * how its SDK says "throttled", "absent" and "exists".
 */
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import { decodeContent, type StoredSecret } from '../secrets/content.js';
import { BackendError, ConfigError, isKeystackError, type KeystackError } from '../secrets/errors.js';
import { processMasker, type Masker } from '../support/masking.js';
import type { SecretsBackend } from './types.js';

/**
 * Loads an optional SDK on first use. A missing package becomes a ConfigError that says which
 * package to install, instead of a module-resolution stack trace.
 */
export async function importLib<T>(flavor: string, pkg: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new ConfigError(`the ${flavor} flavor needs the npm package '${pkg}', which is not installed`, {
        hint: `Install it next to keystack: npm install ${pkg}`,
      });
    }
    throw e;
  }
}

/**
 * A copy of an SDK error that keeps what helps diagnose it (name, message, code, HTTP status)
 * and drops request bodies, headers and anything else that might carry a value. Values being
 * written or read, and every value this process knows (processMasker), are masked in the
 * message, in every encoding the masker knows, as a second line of defence.
 */
export function scrubError(err: unknown, values: Iterable<string> = []): Error {
  const masker = maskerWith(values);
  if (!(err instanceof Error)) return new Error(masker.mask(String(err)));
  const e = err as Error & { code?: unknown; status?: unknown; statusCode?: unknown; $metadata?: { httpStatusCode?: number } };
  const copy = new Error(masker.mask(e.message)) as Error & { code?: unknown; status?: unknown };
  copy.name = e.name;
  if (e.code !== undefined) copy.code = e.code;
  const status = e.status ?? e.statusCode ?? e.$metadata?.httpStatusCode;
  if (status !== undefined) copy.status = status;
  copy.stack = `${copy.name}: ${copy.message}`;
  return copy;
}

/** The process's masker, plus the values of the operation at hand (which it may not know yet). */
function maskerWith(values: Iterable<string>): Masker {
  processMasker.add(values);
  return processMasker;
}

export interface FailureContext {
  flavor: string;
  operation: string;
  secretName?: string | undefined;
  /** Values being written or read, masked out of any message that echoes them. */
  values?: Iterable<string>;
}

/**
 * Wraps any non-keystack error as a BackendError with a scrubbed cause. A keystack error (one a
 * flavor explained, or a custom flavor threw) is passed on, with any value in its message, hint
 * or causes masked: flavors build those messages from server answers, which may echo a request.
 */
export function backendFailure(ctx: FailureContext, err: unknown, reason?: string, hint?: string): Error {
  const masker = maskerWith(ctx.values ?? []);
  if (isKeystackError(err)) return maskKeystackError(err, masker);
  const cause = scrubError(err);
  return new BackendError({
    flavor: ctx.flavor,
    operation: ctx.operation,
    secretName: ctx.secretName,
    reason: reason === undefined ? describeCause(cause) : masker.mask(reason),
    cause,
    hint: hint === undefined ? undefined : masker.mask(hint),
  });
}

/** Masks a keystack error in place (its class, code and fields stay); causes become scrubbed copies. */
function maskKeystackError(err: KeystackError, masker: Masker): KeystackError {
  const e = err as KeystackError & { hint: string | undefined; cause?: unknown };
  const message = masker.mask(e.message);
  if (message !== e.message) {
    e.message = message;
    e.stack = `${e.name}: ${message}`;
  }
  if (typeof e.hint === 'string') {
    const hint = masker.mask(e.hint);
    if (hint !== e.hint) Object.defineProperty(e, 'hint', { value: hint, enumerable: true, configurable: true, writable: true });
  }
  if (e.cause !== undefined) {
    const cause = isKeystackError(e.cause) ? maskKeystackError(e.cause, masker) : scrubError(e.cause);
    Object.defineProperty(e, 'cause', { value: cause, enumerable: false, configurable: true, writable: true });
  }
  return e;
}

function describeCause(e: Error & { code?: unknown; status?: unknown }): string {
  const code = typeof e.code === 'string' && NETWORK_CODES.has(e.code) ? e.code : undefined;
  if (code) return `cannot reach the server (${code})`;
  const status = typeof e.status === 'number' ? ` (HTTP ${e.status})` : '';
  return `${e.name}${status}: ${firstLine(e.message)}`;
}

function firstLine(s: string): string {
  const line = s.split('\n', 1)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/**
 * Error codes that mean the request never reached the server or no answer came back, from
 * node:net/http, undici (fetch) and the AWS SDK. One list for every flavor.
 */
export const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ENOTFOUND', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH', 'EAI_AGAIN', 'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_SOCKET',
]);

/** The network code of an error or of one of its causes (fetch wraps them twice). */
export function networkCode(e: unknown): string | undefined {
  for (let x = e, depth = 0; x && typeof x === 'object' && depth < 4; x = (x as { cause?: unknown }).cause, depth++) {
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    if ((x as { name?: unknown }).name === 'TimeoutError') return 'ETIMEDOUT';
  }
  return undefined;
}

/**
 * How long one request may take, and how long in total one call may wait between retries of a
 * throttled request (backoff, or the wait a server asks for with Retry-After: a wait that does not
 * fit is not started, the call fails at once and says so). Both bound every built-in flavor;
 * `KEYSTACK_REQUEST_TIMEOUT_MS` and `KEYSTACK_RETRY_BUDGET_MS` override them.
 */
export interface CallLimits {
  /** @default 30 000 */
  requestTimeoutMs: number;
  /** @default 60 000 */
  retryBudgetMs: number;
}

export function callLimits(env: Readonly<Record<string, string | undefined>>): CallLimits {
  const read = (key: string, fallback: number): number => {
    const raw = env[key];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${key} must be a positive whole number of milliseconds, not '${raw}'`, { hint: `Unset it for the default (${fallback}).` });
    return n;
  };
  return { requestTimeoutMs: read('KEYSTACK_REQUEST_TIMEOUT_MS', 30_000), retryBudgetMs: read('KEYSTACK_RETRY_BUDGET_MS', 60_000) };
}

/** A Retry-After header (delta-seconds or an HTTP date) in ms; undefined when absent or unreadable. */
export function retryAfterMs(value: unknown, now: number = Date.now()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * A response header of an SDK error (`e.response.headers`, a Headers-like object with `get` as in
 * the Azure SDK, or a plain record as in Octokit); a number as text, a list joined as HTTP does.
 */
export function errorHeader(e: unknown, name: string): string | undefined {
  const headers = (e as { response?: { headers?: unknown } } | null)?.response?.headers;
  if (!headers || typeof headers !== 'object') return undefined;
  const h: unknown = typeof (headers as { get?: unknown }).get === 'function' ? (headers as { get(n: string): unknown }).get(name) : (headers as Record<string, unknown>)[name];
  if (typeof h === 'string') return h;
  if (typeof h === 'number') return String(h);
  return Array.isArray(h) ? h.filter((x) => typeof x === 'string').join(', ') : undefined;
}

/** Every item of a paged listing: `page(token)` gives one page and the next token (empty or absent at the end). */
export async function allPages<T>(page: (token: string | undefined) => Promise<{ items: Iterable<T>; next: string | null | undefined }>): Promise<T[]> {
  const out: T[] = [];
  let token: string | undefined;
  do {
    const p = await page(token);
    out.push(...p.items);
    token = p.next ?? undefined;
  } while (token);
  return out;
}

/**
 * The backend with each operation retried as a whole when throttled, for backends (Vault) that
 * reject a throttled request before doing anything, so that running the operation again from its
 * first request is safe.
 */
export function retryingOperations(caller: Caller, backend: SecretsBackend): SecretsBackend {
  const guard = <A extends [string?, ...unknown[]], R>(op: string, fn: (...a: A) => Promise<R>) =>
    (...a: A): Promise<R> => caller.run(op, a[0], () => fn(...a));
  const b = backend;
  return {
    create: guard('register', (n: string, s: StoredSecret) => b.create(n, s)),
    get: guard('get', (n: string) => b.get(n)),
    list: guard('list', () => b.list()),
    update: guard('update', (n: string, s: StoredSecret) => b.update(n, s)),
    ...(b.read && b.replaceIf ? { read: guard('get', b.read.bind(b)), replaceIf: guard('update', b.replaceIf.bind(b)) } : {}),
    delete: guard('delete', (n: string) => b.delete(n)),
    close: () => b.close?.(),
  };
}

/** What a flavor says about its SDK's errors; everything else is shared. */
export interface FailureClassifier {
  /** Throttled, so worth retrying: true, or the wait in ms the server asked for (Retry-After). */
  throttled(e: unknown): boolean | number;
  /** The backend's answer "no such secret". */
  absent?(e: unknown): boolean;
  /** The backend's answer "that name is taken". */
  exists?(e: unknown): boolean;
  /** An SDK's own way of saying the request timed out (gRPC DEADLINE_EXCEEDED, an abort). */
  timedOut?(e: unknown): boolean;
  /** A reason and a next step for failures users can act on (throttling, credentials, access). */
  explain?(e: unknown): { reason: string; hint?: string | undefined } | undefined;
  /** The next step when the server cannot be reached or does not answer. */
  unreachableHint: string;
}

export interface Caller {
  readonly limits: CallLimits;
  /**
   * Runs one backend request: throttling retried within the budget, network failures, timeouts
   * and explained failures as BackendErrors. Other errors pass through for the flavor to inspect;
   * the core wraps whatever is left.
   */
  run<T>(operation: string, secretName: string | undefined, fn: () => Promise<T>): Promise<T>;
  /** As `run`, but the backend's "absent" answer is null. */
  orNull<T>(operation: string, secretName: string | undefined, fn: () => Promise<T>): Promise<T | null>;
  /** As `run`, but the backend's "exists" answer is false (and success true). */
  created(operation: string, secretName: string | undefined, fn: () => Promise<unknown>): Promise<boolean>;
}

export function createCaller(o: { flavor: string; env: Readonly<Record<string, string | undefined>>; classify: FailureClassifier }): Caller {
  const limits = callLimits(o.env);
  const c = o.classify;
  const fail = (operation: string, secretName: string | undefined, e: unknown, extra?: { reason: string; hint: string }): unknown => {
    const at = { flavor: o.flavor, operation, secretName };
    if (extra) return backendFailure(at, e, extra.reason, extra.hint);
    const code = networkCode(e);
    if (code === 'ETIMEDOUT' || c.timedOut?.(e)) {
      return backendFailure(at, e, `the server did not answer within ${seconds(limits.requestTimeoutMs)} (${code ?? 'timeout'})`,
        `${c.unreachableHint} The limit per request is KEYSTACK_REQUEST_TIMEOUT_MS (default 30000).`);
    }
    if (code) return backendFailure(at, e, `cannot reach the server (${code})`, c.unreachableHint);
    const x = c.explain?.(e);
    return x ? backendFailure(at, e, x.reason, x.hint) : e;
  };
  const run = async <T>(operation: string, secretName: string | undefined, fn: () => Promise<T>): Promise<T> => {
    let waited = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const t = c.throttled(e);
        if (t === false) throw fail(operation, secretName, e);
        const asked = typeof t === 'number' ? t : undefined;
        const left = limits.retryBudgetMs - waited;
        const delay = asked ?? Math.min(left, Math.random() * Math.min(5000, 200 * 2 ** attempt));
        if (attempt >= 4 || delay > left) {
          const x = c.explain?.(e) ?? { reason: 'the backend kept throttling the request', hint: 'Try again later.' };
          const over = asked !== undefined && asked > left
            ? { reason: `${x.reason}; it asked to wait ${seconds(asked)}, beyond what is left of the retry budget of ${seconds(limits.retryBudgetMs)}`, hint: `${x.hint ?? ''} To wait longer, raise KEYSTACK_RETRY_BUDGET_MS (milliseconds).`.trim() }
            : { reason: `${x.reason}, after ${attempt + 1} attempts with backoff`, hint: x.hint ?? 'Try again later.' };
          throw fail(operation, secretName, e, over);
        }
        waited += delay;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  };
  return {
    limits,
    run,
    async orNull(operation, secretName, fn) {
      try {
        return await run(operation, secretName, fn);
      } catch (e) {
        if (c.absent?.(e)) return null;
        throw e;
      }
    },
    async created(operation, secretName, fn) {
      try {
        await run(operation, secretName, fn);
        return true;
      } catch (e) {
        if (c.exists?.(e)) return false;
        throw e;
      }
    },
  };
}

/**
 * Runs `fn` over `items`, at most `limit` at a time. After a failure no further item starts, and
 * the first error is thrown once the running ones have settled.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  const queue = items.entries();
  let failed = false;
  const worker = async () => {
    for (const [i, item] of queue) {
      if (failed) return;
      try {
        out[i] = await fn(item);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const first = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (first) throw first.reason;
  return out;
}

/** Deletes each name, `concurrency` at a time; how many deletes found their secret. */
export async function deleteEach(names: readonly string[], concurrency: number, del: (name: string) => Promise<boolean>): Promise<number> {
  return (await mapLimit(names, concurrency, del)).filter(Boolean).length;
}

/** The HTTP status of an SDK error (`status`, `statusCode` or the AWS SDK's `$metadata`). */
export function httpStatus(e: unknown): number | undefined {
  const x = e as { status?: unknown; statusCode?: unknown; $metadata?: { httpStatusCode?: unknown } } | null;
  const s = x?.status ?? x?.statusCode ?? x?.$metadata?.httpStatusCode;
  return typeof s === 'number' ? s : undefined;
}

/** fetch with a deadline for the whole exchange; a request past it fails with code ETIMEDOUT. */
export function fetchWithTimeout(ms: number): typeof fetch {
  return async (input, init) => {
    const deadline = AbortSignal.timeout(ms);
    try {
      return await fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, deadline]) : deadline });
    } catch (e) {
      throw deadline.aborted ? Object.assign(new Error(`no answer within ${ms} ms`), { code: 'ETIMEDOUT' }) : e;
    }
  };
}

/** An HTTP answer read as a JSON object; `odd` says what came instead (never quoting it). */
export interface JsonReply {
  status: number;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Record<string, unknown> | null;
  odd?: string;
}

// node:http and node:https cost a few ms to load; every CLI call that needs no HTTP would pay for them.
let httpLibs: Promise<[typeof Http, typeof Https]> | undefined;

/**
 * One request through node:http(s) (which, unlike fetch, takes an https agent with a CA or
 * skip-verify), with a deadline for the whole exchange: a socket timeout alone lets a server
 * that trickles bytes hang the call.
 */
export async function requestJson(url: URL, o: { method: string; headers: Record<string, string>; body?: unknown; agent?: Http.Agent | undefined; timeoutMs: number }): Promise<JsonReply> {
  const [http, https] = await (httpLibs ??= Promise.all([import('node:http'), import('node:https')]));
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  const headers = payload === undefined ? o.headers : { ...o.headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) };
  const request = url.protocol === 'https:' ? https.request : http.request;
  return new Promise<JsonReply>((resolve, reject) => {
    const req = request(url, { method: o.method, headers, ...(o.agent ? { agent: o.agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        const reply = { status: res.statusCode ?? 0, headers: res.headers };
        const text = Buffer.concat(chunks).toString('utf8');
        const body = parseObject(text);
        if (body) resolve({ ...reply, body });
        else resolve({ ...reply, body: null, odd: text ? `a body that is not a JSON object (${res.headers['content-type']?.split(';')[0] ?? 'no content type'}, ${text.length} bytes)` : 'an empty body' });
      });
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${o.timeoutMs} ms`), { code: 'ETIMEDOUT' })), o.timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(payload);
  });
}

/** The JSON object in `text`, or null; a parse error would quote the text, so it is dropped. */
function parseObject(text: string): Record<string, unknown> | null {
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/**
 * Reads a stored payload, or fails with a BackendError that says what the object holds instead.
 * JSON.parse errors quote the text they failed on, which here is a secret value, so the cause is
 * dropped rather than scrubbed.
 */
export function decodeOrFail(flavor: string, secretName: string, json: string, prefix: string, what: string): StoredSecret {
  try {
    return decodeContent(json, prefix);
  } catch {
    throw new BackendError({
      flavor,
      operation: 'get',
      secretName,
      reason: `${what} does not hold a keystack JSON payload`,
      hint: "It was written by another tool (or in ZenML's unscoped per-key layout, which keystack does not read); manage it with the backend's own tools, or delete it and register it again with keystack.",
    });
  }
}
