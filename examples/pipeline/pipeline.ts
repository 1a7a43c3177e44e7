/**
 * A small training pipeline that needs a secret twice:
 * - the `fetch_data` step declares `secrets: ['data_api']` and reads its API token through `context.secrets`;
 * - the artifact store encrypts every step output with `encryption_key={{artifacts.key}}`, a
 *   reference resolved from the same secrets manager when the run first writes an artifact.
 *
 * Run it (see README): keystack pipeline run examples/pipeline/pipeline.ts
 */
import { pipeline, step } from 'keystack/pipeline';

interface Dataset {
  rows: number[][];
  labels: number[];
}

/** Pretends to call a data API; the token never leaves the step. */
const fetchData = step({
  name: 'fetch_data',
  // The only secret it may read: any other read fails with code `denied` and is on record.
  secrets: ['data_api'],
  // Takes the context, so caching is off by default; the data API is cheap to call again.
  run: async ({ rows }: { rows: number }, context): Promise<Dataset> => {
    const api = await context.secrets.get('data_api');
    const token = api.values['token'];
    if (!token) throw new Error('secret data_api has no token');
    const seed = Array.from(token).reduce((a, c) => (a * 31 + c.charCodeAt(0)) % 9973, 7);
    const data: Dataset = { rows: [], labels: [] };
    for (let i = 0; i < rows; i++) {
      const x = ((seed * (i + 1)) % 100) / 10;
      data.rows.push([x, 1]);
      data.labels.push(2 * x + 1);
    }
    return data;
  },
});

/** Least squares on y = a·x + b; cached: the same data trains the same model. */
const train = step({
  name: 'train',
  run: async ({ data }: { data: Dataset }) => {
    const n = data.rows.length;
    const xs = data.rows.map((r) => r[0] ?? 0);
    const mx = xs.reduce((a, b) => a + b, 0) / n;
    const my = data.labels.reduce((a, b) => a + b, 0) / n;
    let sxy = 0;
    let sxx = 0;
    xs.forEach((x, i) => {
      sxy += (x - mx) * ((data.labels[i] ?? 0) - my);
      sxx += (x - mx) ** 2;
    });
    const slope = sxx === 0 ? 0 : sxy / sxx;
    return { slope, intercept: my - slope * mx };
  },
});

const evaluate = step({
  name: 'evaluate',
  run: async ({ data, model }: { data: Dataset; model: { slope: number; intercept: number } }) => {
    const errors = data.rows.map((r, i) => ((r[0] ?? 0) * model.slope + model.intercept - (data.labels[i] ?? 0)) ** 2);
    return { mse: errors.reduce((a, b) => a + b, 0) / errors.length, model };
  },
});

export default pipeline('training', () => {
  const data = fetchData({ rows: 20 });
  const model = train({ data });
  evaluate({ data, model });
});
