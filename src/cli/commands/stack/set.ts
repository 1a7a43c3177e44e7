import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';
import { view } from './view.js';

export default defineCommand({
  path: 'stack set',
  description: 'activate a stack',
  arguments: [{ spec: '<name>', complete: 'stack' }],
  examples: ['keystack stack set prod'],
  shape: (z) => views(z).stackView,
  run: async (ctx, { args }: CommandInput) => {
    const stack = ctx.keystack().store.setActiveStack(args['name'] ?? '');
    return { data: view(ctx, stack), text: `Active stack: '${stack.name}'.` };
  },
});
