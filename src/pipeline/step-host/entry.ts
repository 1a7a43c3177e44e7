/**
 * The step child's own entry point (dist/step-child.cjs). A step child used to start as
 * `cli.cjs pipeline __step`, which compiled the whole CLI (commander, every command's tree) to
 * reach runStepChild: the entry spawned per step loads only what a step child runs, and no store
 * (it is refused one). `pipeline __step` stays for launchers built before this entry existed.
 */
import { runStepChild } from './child.js';

// As in the CLI: a reader that went away must neither kill the child mid-step nor pass unnoticed
// (the parent notices the missing result).
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

let settled = false;

// Node exits with 0 once the event loop runs dry, even while the step's promise is pending: that
// would pass for a clean exit, so a step that never settles is reported and fails.
process.on('beforeExit', () => {
  if (settled) return;
  settled = true;
  process.stderr.write('keystack: error: the step stopped before it finished: its promise never settled\n');
  process.exitCode = 1;
});

runStepChild().then(
  () => {
    settled = true;
    // Exit explicitly (sockets a step left open would delay it) once both streams are flushed.
    process.stdout.write('', () => process.stderr.write('', () => process.exit(0)));
  },
  (e: unknown) => {
    settled = true;
    process.stderr.write(`keystack: fatal: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
