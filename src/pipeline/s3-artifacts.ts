/**
 * The `s3` artifact store: step outputs as objects under `s3://bucket/prefix`, through
 * `@aws-sdk/client-s3` (optional, loaded on first use). Every output is one PutObject, which S3
 * makes visible whole or not at all. Credentials come from the store's `authentication_secret`
 * (an `aws`-schema secret in the stack's secrets manager), else from the SDK's default chain
 * (environment, profile, instance role) of the machine the step runs on.
 */
import type * as Sdk from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { withoutNodeVersionNotice } from '../support/aws-sdk.js';
import { callLimits } from '../support/caller.js';
import { importLib } from '../support/optional-import.js';
import { networkCode, scrubError } from '../support/scrub.js';
import { BackendError, ConfigError, KeystackError, NotFoundError, SchemaValidationError } from '../errors.js';
import { parseS3Path, type S3Location } from '../stack/components.js';
import type { ResolvedComponent } from '../stack/runtime.js';
import {
  CACHE_DIR,
  CACHE_LOOKUP_LIMIT,
  cacheEntryName,
  checkArtifactUri,
  decodeArtifact,
  encodeArtifact,
  parseCacheEntry,
  UnreadableArtifactError,
  type ArtifactStore,
  type CacheEntry,
  type EncodedArtifact,
  type SealedCopies,
  type StoredArtifact,
} from './artifact-store.js';
import { ArtifactSealer } from './sealing.js';

export const FLAVOR_NAME = 's3';
const SDK = '@aws-sdk/client-s3';
/** The optional package this store needs, with the range package.json installs (a test checks it). */
export const FLAVOR_DEPENDENCIES: Readonly<Record<string, string>> = { [SDK]: '3.1164.0' };
/** The schema an s3 store's authentication_secret must have (ZenML's S3 store uses the same). */
export const S3_AUTH_SCHEMA = 'aws';

/** The SDK, loaded once per process (a worker loads it when it starts: remote/worker-cache.ts). */
export function loadS3Sdk(): Promise<typeof Sdk> {
  return importLib(FLAVOR_NAME, SDK, () => import('@aws-sdk/client-s3'));
}

/** Clients kept per process: a worker opens the same store for every run, with the same options. */
const CLIENTS_KEPT = 8;
const clients = new Map<string, Sdk.S3Client>();

/**
 * The client for `options`, made once per process. Keyed by a hash of the options (credentials
 * included, so that rotated credentials get a new client), so that no credential is a map key.
 */
function keptClient(options: Sdk.S3ClientConfig, make: () => Sdk.S3Client): Sdk.S3Client {
  const key = createHash('sha256').update(JSON.stringify(options)).digest('hex');
  let client = clients.get(key);
  if (!client) {
    client = make();
    made++;
    clients.set(key, client);
    // An evicted client is not destroyed: a run may still be using it; its sockets close when idle.
    if (clients.size > CLIENTS_KEPT) clients.delete(clients.keys().next().value as string);
  }
  return client;
}

/** How many S3 clients this process has made: a test checks a worker makes one per store, not per run. */
export function s3ClientsMade(): number {
  return made;
}
let made = 0;

/** GetObject requests by URI, while something counts them (countS3Gets); nothing is kept otherwise. */
let getsCounted: Map<string, number> | undefined;

/**
 * Counts the GetObject requests this process sends, by URI, until `stop`: a test checks that a
 * worker reads back no output it wrote itself (remote/worker-cache.ts), by count, never by time.
 */
export function countS3Gets(): { gets: ReadonlyMap<string, number>; stop(): void } {
  const gets = new Map<string, number>();
  getsCounted = gets;
  return {
    gets,
    stop: () => {
      if (getsCounted === gets) getsCounted = undefined;
    },
  };
}

interface Loaded {
  sdk: typeof Sdk;
  client: Sdk.S3Client;
  /** The credential values, masked out of every error. */
  values: string[];
}

export class S3ArtifactStore implements ArtifactStore {
  readonly component: ResolvedComponent;
  readonly location: S3Location;
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #sealer: ArtifactSealer;
  #loaded: Promise<Loaded> | undefined;

  constructor(component: ResolvedComponent, env: Readonly<Record<string, string | undefined>>) {
    this.component = component;
    this.location = parseS3Path(component.config['path'], `artifact-store '${component.name}'`);
    this.#env = env;
    // Salted with the location, not the component's uuid: every machine and every registration
    // of the same bucket and prefix with the same passphrase reads the others' artifacts.
    this.#sealer = new ArtifactSealer(component, `keystack-artifacts:${this.#where}`);
  }

  get copies(): SealedCopies {
    return this.#sealer;
  }

  get #where(): string {
    return `s3://${this.location.bucket}/${this.location.prefix}`;
  }

  async write(uri: string, value: unknown, encoded?: EncodedArtifact): Promise<StoredArtifact> {
    const { json, hash } = encoded ?? encodeArtifact(value);
    await this.#put(uri, await this.#sealer.seal(json, uri), 'write');
    return { uri, hash };
  }

  async read(uri: string): Promise<unknown> {
    const body = await this.#get(uri, 'read');
    if (body === null) {
      throw new ConfigError(
        `artifact ${uri} is missing from artifact-store '${this.component.name}' (${this.#where})`,
        {
          hint: 'Run the pipeline again without cache: keystack pipeline run FILE --no-cache.',
        },
      );
    }
    return decodeArtifact(await this.#sealer.open(body, uri), uri, this.component.name);
  }

  async readable(uri: string): Promise<boolean> {
    await this.#sealer.key();
    const body = await this.#get(uri, 'read');
    if (body === null) return false;
    try {
      decodeArtifact(await this.#sealer.open(body, uri), uri, this.component.name);
      return true;
    } catch (e) {
      if (e instanceof UnreadableArtifactError) return false; // rotated key or altered object
      throw e;
    }
  }

  async putCacheEntry(cacheKey: string, entry: CacheEntry): Promise<void> {
    const e: CacheEntry = { uri: entry.uri, hash: entry.hash, runId: entry.runId };
    await this.#put(
      `${CACHE_DIR}/${cacheKey}/${cacheEntryName(entry.runId)}`,
      Buffer.from(JSON.stringify(e), 'utf8'),
      'write cache entry',
    );
  }

  async findCacheEntries(cacheKey: string): Promise<CacheEntry[]> {
    const dir = `${this.location.prefix}${CACHE_DIR}/${cacheKey}/`;
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#send('find cache entries', `${CACHE_DIR}/${cacheKey}/`, (s, c) =>
        c.send(
          new s.ListObjectsV2Command({
            Bucket: this.location.bucket,
            Prefix: dir,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        ),
      );
      for (const o of page.Contents ?? []) if (o.Key?.endsWith('.json')) keys.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const entries: CacheEntry[] = [];
    for (const k of keys.sort().reverse().slice(0, CACHE_LOOKUP_LIMIT)) {
      const body = await this.#get(k.slice(this.location.prefix.length), 'read cache entry');
      const entry = body && parseCacheEntry(body.toString('utf8'));
      if (entry) entries.push(entry);
    }
    return entries;
  }

  async #put(uri: string, body: Buffer, op: string): Promise<void> {
    checkArtifactUri(uri);
    await this.#send(op, uri, (s, c) =>
      c.send(
        new s.PutObjectCommand({ Bucket: this.location.bucket, Key: `${this.location.prefix}${uri}`, Body: body }),
      ),
    );
  }

  /** The object's bytes; null when it does not exist. */
  async #get(uri: string, op: string): Promise<Buffer | null> {
    checkArtifactUri(uri);
    // The key before the first request, as the store has always done: a key that cannot be had fails a read at once.
    await this.#sealer.key();
    getsCounted?.set(uri, (getsCounted.get(uri) ?? 0) + 1);
    try {
      const out = await this.#send(
        op,
        uri,
        (s, c) =>
          c.send(new s.GetObjectCommand({ Bucket: this.location.bucket, Key: `${this.location.prefix}${uri}` })),
        true,
      );
      if (!out.Body) return Buffer.alloc(0);
      return Buffer.from(await out.Body.transformToByteArray());
    } catch (e) {
      if (e instanceof AbsentObject) return null;
      throw e;
    }
  }

  async #send<O>(
    op: string,
    uri: string,
    call: (sdk: typeof Sdk, client: Sdk.S3Client) => Promise<O>,
    absentOk = false,
  ): Promise<O> {
    const { sdk, client, values } = await (this.#loaded ??= this.#load().catch((e: unknown) => {
      this.#loaded = undefined; // a missing secret may be registered before the next try
      throw e;
    }));
    try {
      return await call(sdk, client);
    } catch (e) {
      const name = (e as { name?: unknown }).name;
      if (absentOk && (name === 'NoSuchKey' || name === 'NotFound')) throw new AbsentObject();
      throw this.#failure(op, uri, e, values);
    }
  }

  async #load(): Promise<Loaded> {
    const sdk = await loadS3Sdk();
    const limits = callLimits(this.#env);
    const endpoint = await this.component.getString('endpoint_url');
    const region =
      (await this.component.getString('region')) ??
      this.#env['AWS_REGION'] ??
      this.#env['AWS_DEFAULT_REGION'] ??
      'us-east-1';
    const options: Sdk.S3ClientConfig = {
      region,
      maxAttempts: 2,
      // Without throwOnRequestTimeout the SDK only warns when requestTimeout passes and keeps waiting.
      requestHandler: {
        connectionTimeout: Math.min(10_000, limits.requestTimeoutMs),
        requestTimeout: limits.requestTimeoutMs,
        throwOnRequestTimeout: true,
      },
    };
    // Emulators and most S3-compatible servers have no virtual-host buckets.
    if (endpoint) Object.assign(options, { endpoint, forcePathStyle: true });
    const values: string[] = [];
    const credentials = await this.#credentials();
    if (credentials) {
      options.credentials = credentials;
      values.push(
        credentials.accessKeyId,
        credentials.secretAccessKey,
        ...(credentials.sessionToken ? [credentials.sessionToken] : []),
      );
    }
    return {
      sdk,
      client: keptClient(options, () => withoutNodeVersionNotice(() => new sdk.S3Client(options))),
      values,
    };
  }

  /** From authentication_secret; undefined without one (the SDK's default chain then applies). */
  async #credentials(): Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined> {
    const name = await this.component.getString('authentication_secret');
    if (name === undefined) return undefined;
    const store = this.component.name;
    const register = `keystack secret register ${name} --schema=${S3_AUTH_SCHEMA} --aws_access_key_id=ID --aws_secret_access_key=@FILE`;
    const secret = await this.component.secret(name);
    if (!secret) {
      throw new NotFoundError(
        `the authentication secret '${name}' of artifact-store '${store}' does not exist${this.component.hasSecretsManager ? '' : ' (the stack has no secrets manager)'}`,
        `Register it with \`${register}\`.`,
      );
    }
    if (secret.schema !== S3_AUTH_SCHEMA) {
      throw new SchemaValidationError(
        S3_AUTH_SCHEMA,
        [
          {
            key: '',
            message: `the authentication secret '${name}' of artifact-store '${store}' has schema '${secret.schema}', but it must be registered with schema '${S3_AUTH_SCHEMA}'`,
          },
        ],
        `Register it again: \`keystack secret delete ${name} -y && ${register}\`.`,
      );
    }
    const id = secret.values['aws_access_key_id'];
    const key = secret.values['aws_secret_access_key'];
    if (!id || !key) {
      throw new SchemaValidationError(
        S3_AUTH_SCHEMA,
        [
          {
            key: id ? 'aws_secret_access_key' : 'aws_access_key_id',
            message: `missing in the authentication secret '${name}' of artifact-store '${store}'`,
          },
        ],
        `Add it with \`keystack secret update ${name} --aws_access_key_id=ID --aws_secret_access_key=@FILE\`.`,
      );
    }
    const token = secret.values['aws_session_token'];
    return { accessKeyId: id, secretAccessKey: key, ...(token ? { sessionToken: token } : {}) };
  }

  /** One clear error per kind of failure; the cause is scrubbed of the credentials. */
  #failure(op: string, uri: string, e: unknown, values: readonly string[]): Error {
    if (e instanceof KeystackError) return e;
    const cause = scrubError(e, values);
    const name = cause.name;
    const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const store = this.component.name;
    const base = { flavor: `artifact-store ${FLAVOR_NAME}`, operation: `${op} ${uri}`, secretName: undefined, cause };
    const net = networkCode(e);
    if (name === 'CredentialsProviderError') {
      return new BackendError({
        ...base,
        reason: `no AWS credentials for artifact-store '${store}' on this machine`,
        hint: `Set its authentication_secret to an aws secret (\`keystack artifact-store update ${store} --authentication_secret=NAME\`), or give this machine AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an instance role).`,
      });
    }
    if (name === 'NoSuchBucket') {
      return new BackendError({
        ...base,
        reason: `the bucket '${this.location.bucket}' of artifact-store '${store}' does not exist`,
        hint: `Create it (e.g. \`aws s3 mb s3://${this.location.bucket}\`), or point the store at another: \`keystack artifact-store update ${store} --path=s3://BUCKET/PREFIX\`.`,
      });
    }
    if (
      name === 'AccessDenied' ||
      name === 'InvalidAccessKeyId' ||
      name === 'SignatureDoesNotMatch' ||
      name === 'ExpiredToken' ||
      status === 403
    ) {
      return new BackendError({
        ...base,
        reason: `access to ${this.#where}${uri} was denied (${name})`,
        hint: `Check the credentials of artifact-store '${store}' (its authentication_secret, or the AWS credentials of this machine) and that they may read and write the bucket.`,
      });
    }
    if (net) {
      return new BackendError({
        ...base,
        reason: `cannot reach the S3 endpoint of artifact-store '${store}' (${net})`,
        hint: `Check its endpoint_url and region, and the network: \`keystack artifact-store describe ${store}\`.`,
      });
    }
    return new BackendError({
      ...base,
      reason: `${name}${status ? ` (HTTP ${status})` : ''} for ${this.#where}${uri}`,
    });
  }
}

/** A GetObject of a key that does not exist: absence, kept apart from failures. */
class AbsentObject extends Error {}
