// A child process for the concurrency and crash tests: writes secrets through the built library.
import { Keystack } from '../../dist/lib/index.js';

const [mode, id, count] = process.argv.slice(2);
const ks = new Keystack();
const sm = await ks.secretsManager();
const value = (name, i) => `${name}:${i}:`.repeat(8);
if (mode === 'register') {
  for (let i = 0; i < Number(count); i++) await sm.register(`w${id}-${i}`, { v: value(`w${id}-${i}`, 0) });
} else if (mode === 'stream') {
  // Registers and rewrites secrets forever; the parent kills it with SIGKILL.
  for (let i = 0; ; i++) {
    const name = `s${i % 50}`;
    const content = { v: value(name, i), big: (i % 2 ? 'x' : 'y').repeat(4000) };
    // Secrets survive from an earlier killed round: update those.
    if (i < 50 && !(await sm.has(name))) await sm.register(name, content);
    else await sm.update(name, content, { schema: 'arbitrary' });
    if (i === 60) process.stdout.write('ready\n');
  }
}
await ks.close();
