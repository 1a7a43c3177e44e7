/**
 * Redis connections for the bullmq orchestrator and its workers: BullMQ and ioredis loaded on
 * first use (optional packages), a bounded first connect, and errors that say whether Redis is
 * unreachable or refused the credentials, never with the password in them.
 */
import type { Redis as RedisClient } from 'ioredis';
import { ConfigError } from '../../errors.js';
import { importLib } from '../../support/optional-import.js';
import { processMasker } from '../../support/masking.js';

export type Bullmq = typeof import('bullmq');
export type { RedisClient };

/** How long the first connection to Redis may take before it is an error. */
export const CONNECT_TIMEOUT_MS = 3000;

export async function loadBullmq(): Promise<Bullmq> {
  return importLib('bullmq orchestrator', 'bullmq', () => import('bullmq'));
}

/** `redis://host:port/db` with any user and password left out, for messages. */
export function redisDisplay(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  } catch {
    return 'the Redis URL';
  }
}

/** The password (and user) in a Redis URL; empty when it has none. */
export function redisCredentials(url: string): string[] {
  try {
    const u = new URL(url);
    return [decodeURIComponent(u.password), u.password].filter((v) => v !== '');
  } catch {
    return [];
  }
}

export function checkRedisUrl(url: string, what: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`${what} is not a URL`, {
      hint: 'Give it as redis://[:PASSWORD@]HOST:PORT[/DB] (or rediss:// for TLS).',
    });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new ConfigError(`${what} must start with redis:// or rediss://, not ${u.protocol}//`, {
      hint: 'Give it as redis://[:PASSWORD@]HOST:PORT[/DB].',
    });
  }
}

export interface OpenRedisOptions {
  /** Who connects, for messages: "the client" or "worker host:1234". */
  who: string;
  /** Where the URL came from, for the hint: `--redis-url`, "the redis_url of orchestrator 'x'". */
  source: string;
  /**
   * A BullMQ worker's connection: commands wait through reconnects (BullMQ requires
   * maxRetriesPerRequest: null there). Otherwise a command fails at once while Redis is away.
   */
  blocking: boolean;
  connectTimeoutMs?: number | undefined;
}

/**
 * Connects and checks the connection with a PING. The first connect is tried once, within the
 * timeout, so a wrong URL or a Redis that is down is an error at once rather than a hang; once
 * connected, the client reconnects after a drop.
 */
export async function openRedis(url: string, o: OpenRedisOptions): Promise<RedisClient> {
  checkRedisUrl(url, o.source);
  processMasker.add(redisCredentials(url));
  const { Redis } = await importLib('bullmq orchestrator', 'ioredis', () => import('ioredis'));
  let connected = false;
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: o.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: o.blocking ? null : 1,
    enableOfflineQueue: o.blocking,
    // No retry before the first success: that failure is reported. After it, back off to 2 s.
    retryStrategy: (times) => (connected ? Math.min(times * 200, 2000) : null),
  });
  // Without a listener ioredis prints every connection error. The first one says why (ECONNREFUSED,
  // WRONGPASS); the rejected connect() only says "Connection is closed."
  let first: unknown;
  client.on('error', (e: unknown) => (first ??= e));
  try {
    await client.connect();
    await client.ping();
    connected = true;
    return client;
  } catch (e) {
    client.disconnect();
    throw redisError(first ?? e, url, o);
  }
}

/** A clear error for a failed Redis call; the password never appears in it. */
export function redisError(e: unknown, url: string, o: Pick<OpenRedisOptions, 'who' | 'source'>): ConfigError {
  const raw = processMasker.mask(e instanceof Error ? e.message : String(e));
  const code = (e as { code?: unknown } | null)?.code;
  const where = redisDisplay(url);
  if (/WRONGPASS|NOAUTH|invalid username-password|Authentication required|invalid password/i.test(raw)) {
    return new ConfigError(`Redis at ${where} refused the credentials of ${o.who} (${raw.split(' ')[0] ?? 'auth'})`, {
      hint: `Check the password in ${o.source}: redis://:PASSWORD@HOST:PORT.`,
    });
  }
  const net =
    typeof code === 'string'
      ? code
      : /ETIMEDOUT|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ECONNRESET/.exec(raw)?.[0];
  if (net || /Connection is closed|connect/i.test(raw)) {
    return new ConfigError(`cannot reach Redis at ${where} from ${o.who} (${net ?? raw})`, {
      hint: `Start Redis, or check the host and port in ${o.source}.`,
    });
  }
  return new ConfigError(`Redis at ${where} failed for ${o.who}: ${raw}`, {
    hint: `Check ${o.source} and the Redis server's log.`,
  });
}
