/**
 * Small outputs travel beside the store (issue 22, target 5). A worker that wrote an output puts
 * a sealed copy of it (the very bytes the store keeps, sealed under the store's key with the
 * output's URI, `RUN/STEP.json`, in the additional data) into its signed step result and into
 * the jobs of the steps that read it; the next step, and the client at the end of the run, open
 * that copy instead of asking the store for the output.
 *
 * The store stays the record: the output is written to it first, and the step is reported
 * complete only once that write is confirmed, so a run never completes on a copy alone.
 *
 * Trust: a copy is read from Redis, which anyone who can write there can change. It is used only
 * when it opens under the store's key for exactly the URI the reader expects (so a copy from
 * another run, step or store is refused) and, where the reader knows the hash the producing worker
 * signed, only when it has that hash. Anything else is reported and the output read from the store.
 * Nothing travels without a key (it would be in clear), larger than the limit, or from a step whose
 * outputs the leak guard lets carry secret values (`allowSecretOutputs`).
 */
import { createHash } from 'node:crypto';
import { KeystackError } from '../../errors.js';
import { decodeArtifact, type ArtifactStore, type EncodedArtifact } from '../artifact-store.js';

/** What decides whether an output travels beside the store. */
export interface CopyPolicy {
  /** The largest output (its JSON bytes) that travels; 0: none does. */
  maxBytes: number;
  /** The step's `allowSecretOutputs`: an output allowed to carry secret values never travels. */
  allowSecretOutputs: readonly string[];
}

/** The sealed copy of an output (base64) when it may travel, else undefined. */
export async function sealedCopyOf(
  store: ArtifactStore,
  uri: string,
  encoded: EncodedArtifact,
  policy: CopyPolicy,
): Promise<string | undefined> {
  if (policy.allowSecretOutputs.length > 0 || encoded.json.length > policy.maxBytes) return undefined;
  return (await store.copies.sealCopy(encoded.json, uri))?.toString('base64');
}

/**
 * The output at `uri`: from its sealed copy when there is one that passes the checks, else from
 * the store. `hash`: the hash its producer signed, when the reader has it. `onRefused` hears why
 * a copy was not used (never quoting it).
 */
export async function readOutput(
  store: ArtifactStore,
  uri: string,
  copy: string | undefined,
  o: { hash?: string | undefined; onRefused: (reason: string) => void },
): Promise<unknown> {
  if (copy !== undefined) {
    try {
      const json = await store.copies.openCopy(Buffer.from(copy, 'base64'), uri);
      if (o.hash === undefined || createHash('sha256').update(json).digest('hex') === o.hash)
        return decodeArtifact(json, uri, store.component.name);
      o.onRefused(`the copy of ${uri} carried in Redis is not the output its worker signed`);
    } catch (e) {
      o.onRefused(e instanceof KeystackError ? e.message : `the copy of ${uri} carried in Redis could not be opened`);
    }
  }
  return store.read(uri);
}

/** The most a job carries in sealed inputs (base64 characters); the rest is read from the store. */
export const JOB_SEALED_INPUTS_CAP_CHARS = 4 * 1024 * 1024;

/**
 * The sealed inputs a step's job carries: the copies given (by URI), in order, while their total
 * stays within `capChars`, so that a step reading many large outputs does not get a job of many
 * megabytes; an input left out is read from the store.
 */
export function sealedInputsWithin(
  copies: Iterable<readonly [string, string | undefined]>,
  capChars: number = JOB_SEALED_INPUTS_CAP_CHARS,
): Record<string, string> {
  const picked: Record<string, string> = {};
  let total = 0;
  for (const [uri, copy] of copies) {
    if (copy === undefined || total + copy.length > capChars) continue;
    picked[uri] = copy;
    total += copy.length;
  }
  return picked;
}
