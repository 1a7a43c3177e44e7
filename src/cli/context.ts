import type { Keystack } from '../stack/client.js';
import type { Prompter } from './input.js';
import type { Output } from './output.js';

/** What every command function gets. Commands never touch process.exit, argv or the streams. */
export interface CommandContext {
  keystack(): Keystack;
  out: Output;
  prompt: Prompter;
  /** Standard input as bytes (bounded; see input.ts). */
  readStdin: () => Buffer;
  cwd: string;
  /** The environment keystack was started with (what `keystack run` passes on to its child). */
  env: Readonly<Record<string, string | undefined>>;
  /** Whether standard input is a terminal (for confirmations). */
  interactive: boolean;
}

/** What a command returns: data for --json (typed by the command's declared shape), and the human rendering of it. */
export interface CommandResult<T = unknown> {
  data: T;
  text?: string;
  /** Printed as-is instead of `text` (values for scripts). */
  raw?: string;
  /** The result shows secret values by design (`secret get`), so it is not masked. */
  reveals?: boolean;
  /**
   * The exit status of a child process the command ran in the foreground (`keystack run`):
   * keystack exits with it and prints no result, since the child owned the output.
   */
  exitCode?: number;
  /**
   * The exit status of a result that is also a verdict (`scan`: 1 when it found a secret value);
   * unlike `exitCode`, the result is printed as usual.
   */
  status?: number;
  /**
   * The command printed its result itself, while it ran (`keystack ui` prints its URL once it
   * listens, then serves until stopped): nothing more is printed when it returns.
   */
  printed?: boolean;
}
