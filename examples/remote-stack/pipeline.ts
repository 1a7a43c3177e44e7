/**
 * A training pipeline for a remote stack: most steps run on the orchestrator's workers, `embed`
 * runs on the workers of the `gpu` step operator. Two steps read a secret through the stack's
 * secrets manager, on the worker that runs them, with that worker's own credentials:
 * - `fetch_data` reads `data_api` (the CPU workers' policy allows it);
 * - `embed` reads `gpu_license` (only the GPU workers' policy allows it).
 * Outputs go to the stack's s3 artifact store, encrypted with `encryption_key={{artifacts.key}}`.
 *
 * Walk-through: examples/remote-stack/README.md. Run from the code root (the repository):
 *   keystack pipeline run examples/remote-stack/pipeline.ts
 */
import { pipeline, step } from 'keystack/pipeline';

interface Dataset {
  xs: number[];
  ys: number[];
}

/** Pretends to call a data API; the token never leaves the step. */
const fetchData = step({
  name: 'fetch_data',
  secrets: ['data_api'],
  run: async ({ rows }: { rows: number }, context): Promise<Dataset> => {
    const api = await context.secrets.get('data_api');
    if (!api.values['token']) throw new Error('secret data_api has no token');
    const xs = Array.from({ length: rows }, (_, i) => i / 2);
    return { xs, ys: xs.map((x) => 3 * x + 1) };
  },
});

/** Fan-out 1: plain features (cached: the same data gives the same features). */
const features = step({
  name: 'features',
  run: async ({ data }: { data: Dataset }) => data.xs.map((x) => [x, 1]),
});

/** Fan-out 2: an "embedding" that needs the GPU machines and their licence. */
const embed = step({
  name: 'embed',
  stepOperator: 'gpu',
  secrets: ['gpu_license'],
  run: async ({ data }: { data: Dataset }, context) => {
    const licence = await context.secrets.get('gpu_license');
    if (!licence.values['key']) throw new Error('secret gpu_license has no key');
    return data.xs.map((x) => Math.round(Math.sin(x) * 1000) / 1000);
  },
});

/** Fan-in: least squares on y = a·x + b, using the features (the embedding only counts). */
const train = step({
  name: 'train',
  run: async ({ data, feats, emb }: { data: Dataset; feats: number[][]; emb: number[] }) => {
    const n = feats.length;
    const sx = data.xs.reduce((s, x) => s + x, 0);
    const sy = data.ys.reduce((s, y) => s + y, 0);
    const sxx = data.xs.reduce((s, x) => s + x * x, 0);
    const sxy = data.xs.reduce((s, x, i) => s + x * (data.ys[i] ?? 0), 0);
    const a = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    const b = (sy - a * sx) / n;
    return { a: Math.round(a * 1000) / 1000, b: Math.round(b * 1000) / 1000, embeddingDims: emb.length };
  },
});

const evaluate = step({
  name: 'evaluate',
  run: async ({ model, data }: { model: { a: number; b: number }; data: Dataset }) => {
    const err = data.xs.reduce((s, x, i) => s + Math.abs(model.a * x + model.b - (data.ys[i] ?? 0)), 0);
    return { meanAbsError: Math.round((err / data.xs.length) * 1000) / 1000 };
  },
});

export default pipeline('remote_training', () => {
  const data = fetchData({ rows: 20 });
  const feats = features({ data });
  const emb = embed({ data });
  const model = train({ data, feats, emb });
  evaluate({ model, data });
});
