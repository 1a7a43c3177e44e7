import { main } from './main.js';

// A reader that goes away early (`keystack secret list | head -1`) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    // Exit explicitly: SDK clients may keep sockets alive that would delay the exit.
    process.stdout.write('', () => process.exit(code));
  },
  (e: unknown) => {
    process.stderr.write(`keystack: fatal: ${String(e)}\n`);
    process.exit(1);
  },
);
