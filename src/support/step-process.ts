/**
 * The marker of a step process (local_process, or a worker's step child). Such a process holds
 * no credentials and reads secrets only through its capability over IPC; keystack's own API
 * refuses, inside it, to open a config store or build a secrets manager, so that a step cannot
 * widen its capability through keystack by building a manager from scratch.
 */
import { ConfigError } from '../errors.js';

export const STEP_PROCESS_VARIABLE = 'KEYSTACK_STEP_PROCESS';

export function inStepProcess(): boolean {
  return process.env[STEP_PROCESS_VARIABLE] === '1';
}

/** Throws inside a step process; `what` names the refused operation ("open the config store"). */
export function refuseInStepProcess(what: string): void {
  if (!inStepProcess()) return;
  throw new ConfigError(`a step process may not ${what}: it holds no credentials`, {
    hint: "Read secrets through context.secrets, and declare them in the step: step({ name, secrets: ['NAME'], run }).",
  });
}
