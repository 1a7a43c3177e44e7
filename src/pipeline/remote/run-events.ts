/**
 * How a client following its run learns that steps ended: BullMQ's QueueEvents on each queue of
 * the run (a blocking XREAD on the queue's event stream), instead of reading the run's state on a
 * timer. An event only says *which* step to look at: the client then reads that step's signed
 * state and checks it, as before. Events can be missed (one sent before the first read of the
 * stream, a dropped connection), so the client still reads the whole run now and then.
 */
import type { QueueEvents } from 'bullmq';
import { jobId, QUEUE_PREFIX } from './protocol.js';
import { openRedis, type Bullmq, type RedisClient } from './redis.js';

export interface RunEvents {
  /**
   * The steps whose jobs ended (completed or failed an attempt) since the last call, waiting up to
   * `ms` for one; null when none did in that time.
   */
  next(ms: number): Promise<Set<string> | null>;
  close(): Promise<void>;
}

export async function runEvents(
  bullmq: Bullmq,
  url: string,
  source: string,
  queueNames: Iterable<string>,
  runId: string,
): Promise<RunEvents> {
  const prefix = jobId(runId, '');
  let ended = new Set<string>();
  let wake: (() => void) | undefined;
  const connections: RedisClient[] = [];
  const listeners: QueueEvents[] = [];
  const onEnd = ({ jobId: id }: { jobId: string }) => {
    if (!id.startsWith(prefix)) return;
    ended.add(id.slice(prefix.length));
    wake?.();
  };
  const close = async () => {
    await Promise.all(listeners.map((l) => l.close().catch(() => undefined)));
    // Connections given to BullMQ are the caller's to close.
    for (const c of connections) c.disconnect();
  };
  try {
    for (const name of new Set(queueNames)) {
      const connection = await openRedis(url, { who: 'the client', source, blocking: true });
      connections.push(connection);
      const l = new bullmq.QueueEvents(name, { connection, prefix: QUEUE_PREFIX });
      l.on('error', () => undefined);
      l.on('completed', onEnd);
      l.on('failed', onEnd);
      listeners.push(l);
    }
    await Promise.all(listeners.map((l) => l.waitUntilReady()));
  } catch (e) {
    await close();
    throw e;
  }
  return {
    async next(ms) {
      if (ended.size === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ms);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
      if (ended.size === 0) return null;
      const got = ended;
      ended = new Set();
      return got;
    },
    close,
  };
}
