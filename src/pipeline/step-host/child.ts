/**
 * Inside a step child: waits for its step over IPC, runs it with a context whose secrets come
 * from the parent through the capability, and streams the output back. The child opens no store
 * and builds no manager (the environment marker makes keystack refuse); it exits when done, or
 * when the parent goes away.
 */
import { isKeystackError } from '../../errors.js';
import { processMasker } from '../../support/masking.js';
import { loadPipelineModule, type LoadedPipeline } from '../module.js';
import { stepErrorText } from '../run-common.js';
import { checkJson, type StepContext } from '../step.js';
import { childContext } from './context.js';
import { holdWrites, maskWrites } from './mask-writes.js';
import {
  isPrepare,
  isSecretReply,
  isStart,
  OUTPUT_CHUNK_CHARS,
  type DeniedNotice,
  type DoneMessage,
  type PrepareMessage,
  type Requester,
  type SecretReply,
  type SecretRequest,
  type StartMessage,
} from './protocol.js';

/** Runs one step as a step child; resolves once the parent has its result. */
export async function runStepChild(): Promise<'completed' | 'failed'> {
  const send = process.send?.bind(process);
  if (!send) throw new Error('the step process has no IPC channel: start it through a step host');
  // The parent went away: nothing can take the result.
  process.on('disconnect', () => process.exit(1));
  let prepared: Prepared | undefined;
  const start = await new Promise<StartMessage>((resolve) => {
    const on = (m: unknown) => {
      // One prepare at most, and only before the step: a child never switches modules.
      if (isPrepare(m)) prepared ??= prepare(m.module);
      if (!isStart(m)) return;
      process.off('message', on);
      resolve(m);
    };
    process.on('message', on);
  });
  const replay = prepared?.release();
  processMasker.add(start.mask);
  const post = (m: unknown) => new Promise<void>((resolve) => send(m, undefined, {}, () => resolve()));
  const unmask = maskWrites([process.stdout, process.stderr]);
  replay?.();
  let done: DoneMessage;
  const sendOutput = async (value: unknown) => {
    const text = JSON.stringify(value ?? null);
    for (let i = 0; i < text.length; i += OUTPUT_CHUNK_CHARS)
      await post({ kind: 'keystack.step.output', text: text.slice(i, i + OUTPUT_CHUNK_CHARS) });
  };
  try {
    const value = await runStep(start, requester(start), moduleFor(start, prepared));
    try {
      checkJson(value, `the output of step '${start.stepId}'`);
    } catch (e) {
      // Sent anyway: the parent's leak guard reads a Buffer's bytes before the step fails.
      let sent = true;
      await sendOutput(value).catch(() => (sent = false));
      throw Object.assign(e as Error, { outputRejected: sent });
    }
    await sendOutput(value);
    done = { kind: 'keystack.step.done', ok: true };
  } catch (e) {
    // As the run history stores an in-process step's error (a denial keeps its `denied: ` prefix).
    const message = stepErrorText(e);
    done = {
      kind: 'keystack.step.done',
      ok: false,
      error: processMasker.mask(message),
      rawError: message,
      ...((e as { outputRejected?: boolean }).outputRejected === true ? { outputRejected: true } : {}),
      ...(isKeystackError(e) ? { code: e.code } : {}),
    };
  } finally {
    unmask();
  }
  await post(done);
  process.removeAllListeners('disconnect');
  process.disconnect();
  return done.ok ? 'completed' : 'failed';
}

interface Prepared {
  module: PrepareMessage['module'];
  loaded: Promise<LoadedPipeline>;
  /** Restores stdout and stderr; the returned replay writes what the import printed. */
  release: () => () => void;
}

/** A spare imports its module now; what the import prints is held until the step's mask is set. */
function prepare(module: PrepareMessage['module']): Prepared {
  const release = holdWrites([process.stdout, process.stderr]);
  const loaded = loadPipelineModule(module.path, module.exportName);
  // A failed import is the step's failure, reported when the step starts (as without a prepare).
  loaded.catch(() => undefined);
  return { module, loaded, release };
}

function moduleFor(start: StartMessage, prepared: Prepared | undefined): Promise<LoadedPipeline> {
  if (!prepared) return loadPipelineModule(start.module.path, start.module.exportName);
  if (prepared.module.path !== start.module.path || prepared.module.exportName !== start.module.exportName) {
    // The parent kills a spare prepared for another module; a child never runs a module it was not given.
    return Promise.reject(
      new Error(
        `this step process imported ${prepared.module.path} (${prepared.module.exportName}) ahead of its step, not ${start.module.path} (${start.module.exportName}): a step host starts a fresh process for another module`,
      ),
    );
  }
  return prepared.loaded;
}

async function runStep(start: StartMessage, ask: Requester, loaded: Promise<LoadedPipeline>): Promise<unknown> {
  const { pipeline } = await loaded;
  const node = pipeline.graph().find((n) => n.id === start.stepId);
  if (!node)
    throw new Error(`pipeline '${pipeline.name}' in ${start.module.path} has no step '${start.stepId}' any more`);
  const context: StepContext = childContext(start, node, ask, (n) => {
    const notice: DeniedNotice = {
      kind: 'keystack.step.denied',
      token: start.token,
      runId: start.runId,
      stepId: start.stepId,
      attempt: start.attempt,
      ...n,
    };
    process.send?.(notice);
  });
  return (node.step.run as (i: unknown, c: StepContext) => unknown)(start.inputs, context);
}

/** Asks the parent for one secret with this step's capability. */
function requester(start: StartMessage): Requester {
  let next = 0;
  const pending = new Map<number, (r: SecretReply) => void>();
  process.on('message', (m: unknown) => {
    if (!isSecretReply(m)) return;
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  });
  return (asked) =>
    new Promise<SecretReply>((resolve) => {
      const id = next++;
      pending.set(id, resolve);
      const request: SecretRequest = {
        kind: 'keystack.step.secret',
        id,
        token: start.token,
        runId: start.runId,
        stepId: start.stepId,
        attempt: start.attempt,
        ...asked,
      };
      // Looked up at each call: the step may wrap it, which gains it nothing (see broker.ts).
      process.send?.(request);
    });
}
