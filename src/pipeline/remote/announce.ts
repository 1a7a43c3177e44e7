/**
 * Workers announce themselves in Redis so that `keystack status` can list them: one key per
 * worker, holding its name, host, isolation mode, start time, queues and key fingerprint, signed
 * with its worker key and refreshed on a heartbeat. The key expires when the heartbeats stop, so a
 * dead worker disappears within its time to live. Like everything in Redis, an announcement is
 * taken only once its signature verifies against the worker keys this machine trusts; and one
 * whose last heartbeat is older than its time to live (a copy kept alive by someone else) is
 * marked stale.
 */
import { ConfigError } from '../../errors.js';
import {
  signMessage,
  verifyMessage,
  type SignedMessage,
  type SigningKey,
  type TrustedKey,
} from '../../support/signing.js';
import { QUEUE_PREFIX } from './protocol.js';
import type { RedisClient } from './redis.js';

export const ANNOUNCE_DOMAIN = 'worker-announce/v1';
/** The announcement's time to live; heartbeats come three times within it. */
export const ANNOUNCE_TTL_VARIABLE = 'KEYSTACK_WORKER_ANNOUNCE_TTL_MS';
export const DEFAULT_ANNOUNCE_TTL_MS = 30_000;
const KEY_PREFIX = `${QUEUE_PREFIX}-worker:`;

export interface Announcement {
  name: string;
  host: string;
  isolation: 'process' | 'none';
  /** ISO 8601. */
  startedAt: string;
  queues: string[];
  /** The id (fingerprint) of the worker key that signs its results and this announcement. */
  keyId: string;
  pid: number;
  /** The last heartbeat, ISO 8601. */
  seenAt: string;
  ttlMs: number;
}

export interface Announcer {
  /** Stops the heartbeat and removes the announcement. */
  stop(): Promise<void>;
}

export function announceTtlMs(env: Readonly<Record<string, string | undefined>>): number {
  const v = env[ANNOUNCE_TTL_VARIABLE];
  if (v === undefined || v === '') return DEFAULT_ANNOUNCE_TTL_MS;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1000)
    throw new ConfigError(
      `${ANNOUNCE_TTL_VARIABLE} must be a whole number of milliseconds of at least 1000, not '${v}'`,
    );
  return n;
}

function announcementKey(keyId: string, name: string): string {
  return `${KEY_PREFIX}${keyId}:${name}`;
}

export function startAnnouncing(
  redis: RedisClient,
  key: SigningKey,
  o: {
    name: string;
    host: string;
    isolation: 'process' | 'none';
    startedAt: string;
    queues: string[];
    ttlMs: number;
    onError: (e: unknown) => void;
  },
): Announcer {
  const ttlMs = o.ttlMs;
  const redisKey = announcementKey(key.id, o.name);
  const beat = async (): Promise<void> => {
    const a: Announcement = {
      name: o.name,
      host: o.host,
      isolation: o.isolation,
      startedAt: o.startedAt,
      queues: o.queues,
      keyId: key.id,
      pid: process.pid,
      seenAt: new Date().toISOString(),
      ttlMs,
    };
    await redis.set(redisKey, JSON.stringify(signMessage(key, ANNOUNCE_DOMAIN, a)), 'PX', ttlMs);
  };
  let last: Promise<void> = beat().catch(o.onError);
  const timer = setInterval(
    () => {
      last = beat().catch(o.onError);
    },
    Math.floor(ttlMs / 3),
  );
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await last;
      await redis.del(redisKey).catch(() => undefined);
    },
  };
}

/** One announcement as `keystack status` shows it. */
export interface ListedWorker {
  /** The announced name; for a refused announcement, the name its Redis key claims (unverified). */
  name: string;
  /** True when its signature verifies against a trusted worker key and its heartbeat is fresh. */
  verified: boolean;
  /** Why it is not verified, or null. */
  problem: string | null;
  host: string | null;
  isolation: 'process' | 'none' | null;
  startedAt: string | null;
  seenAt: string | null;
  queues: string[];
  keyId: string | null;
}

const isStr = (x: unknown): x is string => typeof x === 'string';

function shapeOk(a: Partial<Record<keyof Announcement, unknown>>): boolean {
  return (
    isStr(a.name) &&
    isStr(a.host) &&
    (a.isolation === 'process' || a.isolation === 'none') &&
    isStr(a.startedAt) &&
    Array.isArray(a.queues) &&
    a.queues.every(isStr) &&
    isStr(a.keyId) &&
    typeof a.pid === 'number' &&
    isStr(a.seenAt) &&
    typeof a.ttlMs === 'number'
  );
}

/**
 * Every announcement in Redis, checked. An announcement that fails a check is listed with the
 * reason and none of what it claims (anyone who can write to Redis could have written it).
 */
export async function listWorkers(
  redis: RedisClient,
  trusted: ReadonlyMap<string, TrustedKey>,
  now = Date.now(),
): Promise<ListedWorker[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${KEY_PREFIX}*`, 'COUNT', 200);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  const out: ListedWorker[] = [];
  for (const k of [...new Set(keys)].sort()) {
    const text = await redis.get(k);
    if (text === null) continue; // expired between the scan and the read
    let signed: unknown;
    try {
      signed = JSON.parse(text) as SignedMessage;
    } catch {
      signed = undefined;
    }
    const claimed = k.slice(KEY_PREFIX.length).split(':').slice(1).join(':');
    const refused = (problem: string): ListedWorker => ({
      name: claimed,
      verified: false,
      problem,
      host: null,
      isolation: null,
      startedAt: null,
      seenAt: null,
      queues: [],
      keyId: null,
    });
    const v = verifyMessage(signed, ANNOUNCE_DOMAIN, trusted);
    if (!v.ok) {
      out.push(refused(`its announcement was refused: ${v.reason}`));
      continue;
    }
    const a = v.payload as Partial<Record<keyof Announcement, unknown>> | null;
    if (typeof a !== 'object' || a === null || !shapeOk(a) || a.keyId !== v.key.id) {
      out.push(refused('its announcement was refused: it is not one this keystack version understands'));
      continue;
    }
    const ann = a as Announcement;
    const stale = now - Date.parse(ann.seenAt) > ann.ttlMs + 5000;
    out.push({
      name: ann.name,
      verified: !stale,
      problem: stale
        ? 'its last heartbeat is older than its time to live (an old announcement kept alive by someone else)'
        : null,
      host: ann.host,
      isolation: ann.isolation,
      startedAt: ann.startedAt,
      seenAt: ann.seenAt,
      queues: ann.queues,
      keyId: ann.keyId,
    });
  }
  return out;
}
