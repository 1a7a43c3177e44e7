/**
 * The one call wrapper every backend uses: retries within a time budget, Retry-After honoured,
 * network codes and timeouts recognised, each failure explained through the caller's classifier
 * of its SDK's errors ("throttled", "absent", "exists").
 */
import { ConfigError } from '../errors.js';
import { backendFailure, networkCode } from './scrub.js';

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
    if (!Number.isInteger(n) || n <= 0)
      throw new ConfigError(`${key} must be a positive whole number of milliseconds, not '${raw}'`, {
        hint: `Unset it for the default (${fallback}).`,
      });
    return n;
  };
  return {
    requestTimeoutMs: read('KEYSTACK_REQUEST_TIMEOUT_MS', 30_000),
    retryBudgetMs: read('KEYSTACK_RETRY_BUDGET_MS', 60_000),
  };
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
  const h: unknown =
    typeof (headers as { get?: unknown }).get === 'function'
      ? (headers as { get(n: string): unknown }).get(name)
      : (headers as Record<string, unknown>)[name];
  if (typeof h === 'string') return h;
  if (typeof h === 'number') return String(h);
  return Array.isArray(h) ? h.filter((x) => typeof x === 'string').join(', ') : undefined;
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

export function createCaller(o: {
  flavor: string;
  env: Readonly<Record<string, string | undefined>>;
  classify: FailureClassifier;
}): Caller {
  const limits = callLimits(o.env);
  const c = o.classify;
  const fail = (
    operation: string,
    secretName: string | undefined,
    e: unknown,
    extra?: { reason: string; hint: string },
  ): unknown => {
    const at = { flavor: o.flavor, operation, secretName };
    if (extra) return backendFailure(at, e, extra.reason, extra.hint);
    const code = networkCode(e);
    if (code === 'ETIMEDOUT' || c.timedOut?.(e)) {
      return backendFailure(
        at,
        e,
        `the server did not answer within ${seconds(limits.requestTimeoutMs)} (${code ?? 'timeout'})`,
        `${c.unreachableHint} The limit per request is KEYSTACK_REQUEST_TIMEOUT_MS (default 30000).`,
      );
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
          const over =
            asked !== undefined && asked > left
              ? {
                  reason: `${x.reason}; it asked to wait ${seconds(asked)}, beyond what is left of the retry budget of ${seconds(limits.retryBudgetMs)}`,
                  hint: `${x.hint ?? ''} To wait longer, raise KEYSTACK_RETRY_BUDGET_MS (milliseconds).`.trim(),
                }
              : {
                  reason: `${x.reason}, after ${attempt + 1} attempts with backoff`,
                  hint: x.hint ?? 'Try again later.',
                };
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

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
