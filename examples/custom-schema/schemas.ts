// A user-defined schema, made available to the CLI with:
//   keystack schema register examples/custom-schema/schemas.ts
import { defineSchema, z } from 'keystack';

export const wandb = defineSchema(
  'wandb',
  z.object({
    api_key: z.string().min(10).describe('W&B API key'),
    entity: z.string().optional().describe('team or user'),
    offline: z.boolean().default(false).describe('log offline'),
    port: z.number().int().optional(),
  }),
  { description: 'Weights & Biases credentials.' },
);
