/** Helpers every flavor file uses: lazy SDK loading, error wrapping that leaks nothing, retries. */
import { decodeContent, type StoredSecret } from '../secrets/content.js';
import { BackendError, ConfigError, isKeystackError, type KeystackError } from '../secrets/errors.js';
import { processMasker, type Masker } from '../support/masking.js';

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
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || code === 'ENETUNREACH' || code === 'EAI_AGAIN') {
    return `cannot reach the server (${code})`;
  }
  const status = typeof e.status === 'number' ? ` (HTTP ${e.status})` : '';
  return `${e.name}${status}: ${firstLine(e.message)}`;
}

function firstLine(s: string): string {
  const line = s.split('\n', 1)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

export interface RetryOptions {
  /** Attempts after the first one. */
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  isRetryable: (err: unknown) => boolean;
  /** Server-suggested wait (Retry-After), in ms. */
  retryAfterMs?: (err: unknown) => number | undefined;
}

/** Retries throttling-type failures with exponential backoff and full jitter. */
export async function withRetry<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  const retries = o.retries ?? 4;
  const base = o.baseDelayMs ?? 200;
  const max = o.maxDelayMs ?? 5000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= retries || !o.isRetryable(e)) throw e;
      const suggested = o.retryAfterMs?.(e);
      const delay = suggested ?? Math.random() * Math.min(max, base * 2 ** attempt);
      await new Promise((r) => setTimeout(r, Math.min(delay, max)));
    }
  }
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
