/** What `pipeline runs list` and `describe` do before they read a run. */
import { RunStore } from '../../../../pipeline/run-store.js';
import type { CommandContext } from '../../../context.js';

/** A remote run still going: its live state is in Redis. Not reachable: the stored state, with a warning. */
export async function refresh(ctx: CommandContext, runId: string): Promise<void> {
  const ks = ctx.keystack();
  const runs = new RunStore(ks.store);
  if (runs.remoteOf(runId) === null || runs.getRun(runId).status !== 'running') return;
  const { refreshRemoteRun } = await import('../../../../pipeline/remote/orchestrator.js');
  const { StackRuntime } = await import('../../../../stack/runtime.js');
  try {
    await refreshRemoteRun(
      ks,
      runId,
      (stack) => StackRuntime.load(ks, { stack }),
      (stepId, note) => ctx.out.warn(`run ${runId.slice(0, 8)}, step ${stepId}: ${note}`),
    );
  } catch (e) {
    ctx.out.warn(
      `cannot read the live state of run ${runId.slice(0, 8)}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}
