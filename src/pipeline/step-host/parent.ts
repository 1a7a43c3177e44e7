/**
 * Starting a step child and running one step in it. The child is spawned ahead of its step (see
 * pool.ts); it gets the step over IPC, asks the broker for secrets, and streams its output back.
 * The parent writes the artifact, the cache entry and the status itself: the child has no store.
 */
import type { ChildProcess } from 'node:child_process';
import { dirname, isAbsolute } from 'node:path';
import { compileCacheDir, hasCompileCache } from '../../support/compile-cache.js';
import { processMasker } from '../../support/masking.js';
import type { WorkerLauncher } from '../run-common.js';
import type { SecretBroker } from './broker.js';
import {
  isDeniedNotice,
  isDone,
  isOutputChunk,
  isSecretRequest,
  type PrepareMessage,
  type StartMessage,
} from './protocol.js';

/** Who the child runs as (--step-user); undefined: the parent's user. */
export interface StepUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface SpawnOptions {
  launcher: WorkerLauncher;
  /** Already scrubbed (env.ts). */
  env: Record<string, string>;
  /** Node flags for the child (the orchestrator's node_options). */
  nodeFlags?: readonly string[];
  /** Extra argv after the launcher's, for `ps` only (never a value). */
  args?: readonly string[];
  user?: StepUser | undefined;
  /** The module the child imports at once, before it has a step (a pre-forked spare, see pool.ts). */
  prepare?: PrepareMessage['module'] | undefined;
}

export interface StepChild {
  readonly process: ChildProcess;
  /** Set when the child could not start or has exited before it got a step. */
  readonly failure: () => string | undefined;
}

export function spawnStepChild(spawn: typeof import('node:child_process').spawn, o: SpawnOptions): StepChild {
  const { launcher } = o;
  const args =
    launcher.command === process.execPath
      ? [...(o.nodeFlags ?? []), ...launcher.args, ...(o.args ?? [])]
      : [...launcher.args, ...(o.args ?? [])];
  const env = childEnv(o);
  // The step's own output goes to our stderr, so that stdout stays the command's result.
  const child = spawn(launcher.command, args, {
    env,
    stdio: ['ignore', 2, 2, 'ipc'],
    ...(o.user ? { uid: o.user.uid, gid: o.user.gid, cwd: o.user.home } : {}),
  });
  let failure: string | undefined;
  child.on('error', (e) => {
    failure = `cannot start the step process: ${e.message}`;
  });
  child.on('exit', (code, signal) => {
    failure ??= `the step process exited with ${signal ?? `code ${code}`}`;
  });
  if (o.prepare) {
    const prepare: PrepareMessage = { kind: 'keystack.step.prepare', module: o.prepare };
    // A failed send means the process is gone: its exit is what gets reported.
    child.send(prepare, () => undefined);
  }
  return { process: child, failure: () => failure };
}

/**
 * The child's environment: `o.env`, plus Node 22+'s compile cache (NODE_COMPILE_CACHE, a directory
 * name, nothing secret) under the CLI's rules, so that a child started per step does not compile
 * its entry and its module's `keystack` import afresh each time. A child run as another user
 * (--step-user) gets no cache: it must not write code the worker's user runs, nor use a directory
 * that user can write.
 */
function childEnv(o: SpawnOptions): Record<string, string> {
  if (o.user) {
    const { NODE_COMPILE_CACHE: _, ...rest } = o.env;
    return { ...rest, HOME: o.user.home, NODE_DISABLE_COMPILE_CACHE: '1' };
  }
  // Only a child run by this same Node has the cache this Node has; the entry's directory (the
  // launcher's first path: its other arguments are flags or words) is what must be trusted.
  const entry = o.launcher.command === process.execPath ? o.launcher.args.find((a) => isAbsolute(a)) : undefined;
  if (entry === undefined || !hasCompileCache()) return o.env;
  const dir = compileCacheDir(dirname(entry), o.env);
  return dir === undefined ? o.env : { ...o.env, NODE_COMPILE_CACHE: dir };
}

/** How long a child that has sent its result may take to exit before it is killed. */
const EXIT_GRACE_MS = 5000;

export type StepOutcome =
  | { ok: true; value: unknown }
  | {
      ok: false;
      error: string;
      timedOut?: boolean;
      code?: string | undefined;
      /** The step's error unmasked, for the leak guard only: never printed or stored. */
      rawError?: string | undefined;
      /** An output the child sent though it failed the JSON check (a Buffer), for the leak guard only. */
      rejectedOutput?: unknown;
    };

/**
 * Runs one step in `child` and waits for its end. Never throws for a failure of the step or the
 * child; the error it returns is masked against every value this process knows.
 */
export async function runInChild(
  child: StepChild,
  start: Omit<StartMessage, 'kind' | 'token' | 'mask'>,
  broker: SecretBroker,
  timeoutSeconds: number,
): Promise<StepOutcome> {
  const proc = child.process;
  const early = child.failure();
  if (early !== undefined) return { ok: false, error: early };
  return new Promise<StepOutcome>((resolve) => {
    const chunks: string[] = [];
    let done:
      | {
          ok: boolean;
          error?: string | undefined;
          code?: string | undefined;
          rawError?: string | undefined;
          outputRejected?: boolean | undefined;
        }
      | undefined;
    let timedOut = false;
    const timer =
      timeoutSeconds > 0
        ? setTimeout(() => {
            timedOut = true;
            proc.kill('SIGKILL');
          }, timeoutSeconds * 1000)
        : undefined;
    proc.on('message', (m: unknown) => {
      if (isSecretRequest(m)) {
        void broker.answer(m).then((reply) => {
          if (proc.connected) proc.send(reply, () => undefined);
        });
      } else if (isDeniedNotice(m)) broker.noteDenied(m);
      else if (isOutputChunk(m)) chunks.push(m.text);
      else if (isDone(m) && !done) {
        done = { ok: m.ok, error: m.error, code: m.code, rawError: m.rawError, outputRejected: m.outputRejected };
        // The channel is ordered and the child sends its output before `done`: all of it is here,
        // so the step ends now, not when the process has exited (some 10-20 ms later). A child
        // that does not exit on its own after that is killed.
        finish(fromDone(done));
        setTimeout(() => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        }, EXIT_GRACE_MS).unref();
      }
    });
    let finished = false;
    const finish = (outcome: StepOutcome) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      broker.end();
      resolve(outcome);
    };
    proc.on('error', (e) => finish({ ok: false, error: `cannot start the step process: ${e.message}` }));
    const fromDone = (d: NonNullable<typeof done>): StepOutcome => {
      if (d.ok) {
        try {
          return { ok: true, value: JSON.parse(chunks.join('')) as unknown };
        } catch {
          return { ok: false, error: 'the step process sent an output that is not JSON' };
        }
      }
      let rejectedOutput: unknown;
      try {
        if (d.outputRejected === true) rejectedOutput = JSON.parse(chunks.join('')) as unknown;
      } catch {
        // nothing to guard: the step fails with its own error
      }
      return {
        ok: false,
        error: processMasker.mask(d.error ?? 'the step failed'),
        code: d.code,
        rawError: d.rawError,
        rejectedOutput,
      };
    };
    // 'close', not 'exit': it comes after the IPC channel closed, so every message has arrived.
    proc.on('close', (code, signal) => {
      // A child that sent `done` ended its step then; its output is not parsed a second time.
      if (finished) return;
      if (timedOut) finish({ ok: false, error: `timed out after ${timeoutSeconds} s`, timedOut: true });
      else finish({ ok: false, error: child.failure() ?? `the step process exited with ${signal ?? `code ${code}`}` });
    });
    const message: StartMessage = {
      kind: 'keystack.step.start',
      ...start,
      token: broker.token,
      mask: [...processMasker.values()],
    };
    // A failed send means the process is gone; its exit is what gets reported.
    proc.send(message, () => undefined);
  });
}
