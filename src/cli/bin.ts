import { main } from './main.js';

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
