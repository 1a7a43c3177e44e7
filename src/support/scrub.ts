/**
 * Errors that leak nothing: SDK errors copied down to what helps diagnose them (name, message,
 * code, status), with every value this process knows masked, and wrapped as BackendErrors that
 * name the flavor, the operation and the secret.
 */
import { BackendError, isKeystackError, type KeystackError } from '../errors.js';
import { processMasker, type Masker } from './masking.js';

/**
 * A copy of an SDK error that keeps what helps diagnose it (name, message, code, HTTP status)
 * and drops request bodies, headers and anything else that might carry a value. Values being
 * written or read, and every value this process knows (processMasker), are masked in the
 * message, in every encoding the masker knows, as a second line of defence.
 */
export function scrubError(err: unknown, values: Iterable<string> = []): Error {
  const masker = maskerWith(values);
  if (!(err instanceof Error)) return new Error(masker.mask(String(err)));
  const e = err as Error & {
    code?: unknown;
    status?: unknown;
    statusCode?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
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
    if (hint !== e.hint)
      Object.defineProperty(e, 'hint', { value: hint, enumerable: true, configurable: true, writable: true });
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
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ENOTFOUND',
  'ETIMEDOUT',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
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
