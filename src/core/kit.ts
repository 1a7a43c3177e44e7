/**
 * The flavor kit: what the core gives every flavor besides the contract (types.ts) and the
 * support helpers: the backend of a flavor that declares connect/classify/operations, paging,
 * retrying operations through a caller, a bounded memo, bounded deletes, decoding stored content
 * with an error that names the backend, and the error for an answer the backend would never give.
 */
import { decodeContent, type StoredSecret } from '../secrets/content.js';
import { BackendError } from '../errors.js';
import { mapLimit } from '../support/concurrency.js';
import { createCaller, type Caller, type FailureClassifier } from '../support/caller.js';
import type { ConnectedFlavor, Connection, FlavorContext, SecretsBackend } from './types.js';

/**
 * The backend of a ConnectedFlavor: one client, made lazily and shared, one retrying caller, and a
 * close that releases the client if it was made (the next operation connects again).
 */
export function connectedBackend<C, Client>(
  flavor: string,
  shape: ConnectedFlavor<C, Client>,
  ctx: FlavorContext<C>,
): SecretsBackend {
  const caller = (classify: FailureClassifier) => ({ classify, via: createCaller({ flavor, env: ctx.env, classify }) });
  const main = caller(typeof shape.classify === 'function' ? shape.classify(ctx) : shape.classify);
  let connecting: Promise<Client> | undefined;
  const client = (): Promise<Client> => {
    const c = (connecting ??= shape.connect(ctx, main.via.limits));
    // A failed connect (a missing SDK, a credential file not there yet) is not kept.
    c.catch(() => {
      if (connecting === c) connecting = undefined;
    });
    return c;
  };
  const wholeOperations = shape.retry === 'operation';
  // Under whole-operation retries a single request is not retried on its own.
  const connection = ({ classify, via }: ReturnType<typeof caller>): Connection<Client> => ({
    client,
    caller: via,
    call: async (op, name, fn) => {
      const c = await client();
      return wholeOperations ? fn(c) : via.run(op, name, () => fn(c));
    },
    orNull: async (op, name, fn) => {
      const c = await client();
      if (!wholeOperations) return via.orNull(op, name, () => fn(c));
      try {
        return await fn(c);
      } catch (e) {
        if (classify.absent?.(e)) return null;
        throw e;
      }
    },
    classifiedBy: (classify) => connection(caller(classify)),
  });
  const ops = shape.operations(connection(main), ctx);
  const backend = wholeOperations ? retryingOperations(main.via, ops) : ops;
  return {
    ...backend,
    async close() {
      await ops.close?.();
      const c = connecting;
      connecting = undefined;
      const made = await c?.catch(() => undefined);
      if (made !== undefined) await shape.disconnect?.(made);
    },
  };
}

/** Every item of a paged listing: `page(token)` gives one page and the next token (empty or absent at the end). */
export async function allPages<T>(
  page: (token: string | undefined) => Promise<{ items: Iterable<T>; next: string | null | undefined }>,
): Promise<T[]> {
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
  const guard =
    <A extends [string?, ...unknown[]], R>(op: string, fn: (...a: A) => Promise<R>) =>
    (...a: A): Promise<R> =>
      caller.run(op, a[0], () => fn(...a));
  const b = backend;
  return {
    create: guard('register', (n: string, s: StoredSecret) => b.create(n, s)),
    get: guard('get', (n: string) => b.get(n)),
    list: guard('list', () => b.list()),
    update: guard('update', (n: string, s: StoredSecret) => b.update(n, s)),
    ...(b.read && b.replaceIf
      ? { read: guard('get', b.read.bind(b)), replaceIf: guard('update', b.replaceIf.bind(b)) }
      : {}),
    // Dropping these would make a versioned backend (vault) read as one without versions.
    ...(b.versions && b.getVersion
      ? { versions: guard('versions', b.versions.bind(b)), getVersion: guard('get-version', b.getVersion.bind(b)) }
      : {}),
    ...(b.retireVersion ? { retireVersion: guard('retire-version', b.retireVersion.bind(b)) } : {}),
    ...(b.writtenVersion ? { writtenVersion: b.writtenVersion.bind(b) } : {}),
    delete: guard('delete', (n: string) => b.delete(n)),
    // Versions (DESIGN §16) are optional: dropping them here made vault look versionless.
    ...(b.versions && b.getVersion
      ? { versions: guard('versions', b.versions.bind(b)), getVersion: guard('get-version', b.getVersion.bind(b)) }
      : {}),
    ...(b.retireVersion ? { retireVersion: guard('retire-version', b.retireVersion.bind(b)) } : {}),
    ...(b.writtenVersion ? { writtenVersion: b.writtenVersion.bind(b) } : {}),
    close: () => b.close?.(),
  };
}

/**
 * What a backend last saw of each secret (a schema, a version), to save a request next time. It
 * is only a hint, so beyond `max` names it is dropped whole rather than grow without bound.
 */
export class LastSeen<V> extends Map<string, V> {
  readonly #max: number;
  constructor(max = 1000) {
    super();
    this.#max = max;
  }
  remember(name: string, value: V): void {
    if (this.size > this.#max) this.clear();
    this.set(name, value);
  }
}

/** Deletes each name, `concurrency` at a time; how many deletes found their secret. */
export async function deleteEach(
  names: readonly string[],
  concurrency: number,
  del: (name: string) => Promise<boolean>,
): Promise<number> {
  return (await mapLimit(names, concurrency, del)).filter(Boolean).length;
}

/**
 * Reads a stored payload, or fails with a BackendError that says what the object holds instead.
 * JSON.parse errors quote the text they failed on, which here is a secret value, so the cause is
 * dropped rather than scrubbed.
 */
export function decodeOrFail(
  flavor: string,
  secretName: string,
  json: string,
  prefix: string,
  what: string,
): StoredSecret {
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

/** An answer the real service would never give, for a flavor's own error type. */
export interface UnlikeAnswer {
  /** The service as users know it: "AWS Secrets Manager", "GitHub", "Vault". */
  service: string;
  /** What was wrong with the answer. */
  detail: string;
  /** The config field to check, as the first sentence of the hint. */
  check: string;
  /** A write whose answer was wrong: it may or may not have been made. */
  write?: boolean;
}

/**
 * A success (or a failure) the service would not send: a proxy's page, a stub, another service
 * on that address. It is a failure, never a result, and never read as absence.
 */
export function unlikeAnswer(a: UnlikeAnswer): { reason: string; hint: string } {
  return {
    reason: `the server did not ${a.write ? 'confirm the write' : `answer like ${a.service}`} (${a.detail})`,
    hint: `${a.check}${a.write ? ' The change may or may not have been made; check with `keystack secret list`.' : ''}`,
  };
}

/** unlikeAnswer as the BackendError of one operation. */
export function unlikeBackend(
  flavor: string,
  operation: string,
  secretName: string | undefined,
  a: UnlikeAnswer,
): BackendError {
  return new BackendError({ flavor, operation, secretName, ...unlikeAnswer(a) });
}
