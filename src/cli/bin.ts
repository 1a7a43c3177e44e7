import { main, unsettled } from './main.js';
import { cancelPendingPrompts } from './input.js';

// Write failures (a full disk, a reader that went away) are recorded and reported by the output
// module once the command is done; they must neither kill the process mid-work nor go unnoticed.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

let settled = false;

// Node exits with 0 when the event loop runs dry, even while a promise is still pending: a step,
// a custom flavor or a plugin's top-level await that never settles would pass for success.
process.on('beforeExit', () => {
  if (settled) return;
  // A prompt whose input ended (Ctrl-D) never settles by itself: cancel it, and let the command
  // report that (this event comes again if the loop runs dry once more).
  if (cancelPendingPrompts()) return;
  settled = true;
  unsettled(process.argv.slice(2));
  process.exitCode = 1;
});

main(process.argv.slice(2)).then(
  (code) => {
    settled = true;
    // Exit explicitly: SDK clients may keep sockets alive that would delay the exit. Pipes may
    // be asynchronous, so wait until both streams have passed on what was written to them.
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  },
  (e: unknown) => {
    settled = true;
    process.stderr.write(`keystack: fatal: ${String(e)}\n`);
    process.exit(1);
  },
);
