import { defineCommand } from '../../define.js';

/** Called by the completion scripts (scripts.ts): the candidates for the last word, one a line. */
export default defineCommand({
  path: '__complete',
  description: '',
  hidden: true,
  arguments: [{ spec: '[words...]' }],
  // The words typed so far, options included, arrive unparsed in `input.words`.
  keyValues: true,
  shape: (z) => z.strictObject({ candidates: z.array(z.string()) }),
  run: async (ctx, { words, root }) => (await import('./candidates.js')).complete(ctx, root, words),
});
