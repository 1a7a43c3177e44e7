/** The workers of a remote stack as `keystack status` lists them: their signed announcements in its Redis. */
import { KeystackError } from '../../errors.js';
import type { Keystack } from '../../stack/client.js';
import { StackRuntime } from '../../stack/runtime.js';
import { listWorkers, type ListedWorker } from './announce.js';
import { trustedKeys } from './keys.js';
import { connectOrchestrator } from './orchestrator.js';

export interface RemoteWorkers {
  workers: ListedWorker[];
  /** Why the workers could not be listed (Redis unreachable, its URL not resolvable), or null. */
  error: string | null;
}

/**
 * Null for a stack whose orchestrator is not bullmq. Otherwise the announcements, checked against
 * the worker keys this client trusts (with none trusted, each is listed as refused).
 */
export async function remoteWorkers(ks: Keystack, stackName: string): Promise<RemoteWorkers | null> {
  const record = ks.store.getStack(stackName);
  if (ks.stackComponent(record, 'orchestrator')?.flavor !== 'bullmq') return null;
  try {
    const stack = await StackRuntime.load(ks, { stack: stackName });
    const trusted = trustedKeys('worker', { configDir: ks.configDir, env: ks.env });
    const { redis } = await connectOrchestrator(stack);
    try {
      return { workers: await listWorkers(redis, trusted), error: null };
    } finally {
      redis.disconnect();
    }
  } catch (e) {
    if (!(e instanceof KeystackError)) throw e;
    return { workers: [], error: e.message };
  }
}
