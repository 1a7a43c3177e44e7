/**
 * gcp's versions (DESIGN §16): Secret Manager numbers the versions of a secret 1, 2, 3 … and keeps
 * each one ENABLED, DISABLED or DESTROYED; `latest` is the newest whatever its state. keystack
 * lists them with ListSecretVersions (one call per 1,000 versions), reads one with that listing
 * (for its time, state and labels) and AccessSecretVersion side by side, and retires one by
 * disabling it (one DisableSecretVersion), so that `gcloud secrets versions enable` brings it back.
 */
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import type { protos } from '@google-cloud/secret-manager';
import { allPages, decodeOrFail } from '../core/kit.js';
import { NotFoundError } from '../errors.js';
import type { BackendVersion, SecretsBackend, StoredVersion } from '../core/types.js';
import { payloadText } from './gcp-cas.js';
import { GrpcCode as G, grpcCode as _code } from './shared/grpc.js';

const FLAVOR_NAME = 'gcp';
const PAGE_SIZE = 1000;
const NUMBER = /^[1-9][0-9]{0,17}$/;

type Version = protos.google.cloud.secretmanager.v1.ISecretVersion;
type VersionOps = Required<Pick<SecretsBackend, 'versions' | 'getVersion' | 'retireVersion'>>;

/** What the version operations need from the flavor's backend. */
export interface GcpVersionsNeeds {
  call<T>(op: string, name: string | undefined, fn: (c: SecretManagerServiceClient) => Promise<T>): Promise<T>;
  /** The secret's resource path. */
  path(name: string): string;
  /** Names that cannot be a secret of this scope (ZenML's per-key layout in `none` scope). */
  reserved(name: string): boolean;
  prefix: string;
  opts: { retry: null; timeout: number };
}

export function gcpVersionOps(s: GcpVersionsNeeds): VersionOps {
  /** Newest first, with keystack's labels; null when the secret does not exist. */
  const listed = async (op: string, name: string): Promise<BackendVersion[] | null> => {
    let all: Version[];
    try {
      all = await allPages(async (pageToken = '') => {
        const [page, , res] = await s.call(op, name, (c) =>
          c.listSecretVersions(
            { parent: s.path(name), pageSize: PAGE_SIZE, pageToken },
            { ...s.opts, autoPaginate: false },
          ),
        );
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the raw page response is typed as always there; if a backend leaves it out the listing ends instead of throwing
        return { items: page, next: res?.nextPageToken };
      });
    } catch (e) {
      if (_code(e) === G.NOT_FOUND) return null;
      throw e;
    }
    // The service lists newest first; sorted here all the same, since nothing else depends on it.
    return all
      .map((v) => ({ n: versionNumber(v.name), v }))
      .sort((a, b) => b.n - a.n)
      .map(({ n, v }, i) => ({
        id: String(n),
        createdAt: v.createTime
          ? new Date(Number(v.createTime.seconds ?? 0) * 1000 + (v.createTime.nanos ?? 0) / 1e6)
          : null,
        labels: i === 0 ? ['current', 'latest'] : i === 1 ? ['previous'] : [],
        readable: v.state === 'ENABLED',
      }));
  };

  const getVersion = async (name: string, version: string): Promise<StoredVersion | null> => {
    if (s.reserved(name)) return null;
    const byNumber = NUMBER.test(version);
    if (!byNumber && !['current', 'latest', 'previous'].includes(version)) return null;
    // The listing gives the time, state and labels; AccessSecretVersion only the payload.
    const listing = listed('get', name);
    const target = version === 'previous' ? (await listing)?.[1]?.id : version === 'current' ? 'latest' : version;
    if (target === undefined) {
      await listing;
      return null;
    }
    let text: string;
    let n: string;
    try {
      const [v] = await s.call('get', name, (c) =>
        c.accessSecretVersion({ name: `${s.path(name)}/versions/${target}` }, s.opts),
      );
      text = payloadText(v.payload?.data);
      n = String(versionNumber(v.name));
    } catch (e) {
      await listing.catch(() => undefined);
      if (_code(e) === G.NOT_FOUND) return null;
      if (_code(e) === G.FAILED_PRECONDITION) throw retired(name, target, s.path(name));
      throw e;
    }
    const meta = (await listing)?.find((v) => v.id === n) ?? { id: n, createdAt: null, labels: [], readable: true };
    return { ...meta, secret: decodeOrFail(FLAVOR_NAME, name, text, s.prefix, `version ${n}`) };
  };

  const retireVersion = async (name: string, version: string): Promise<boolean> => {
    if (s.reserved(name) || !NUMBER.test(version)) return false;
    try {
      await s.call('retire', name, (c) =>
        c.disableSecretVersion({ name: `${s.path(name)}/versions/${version}` }, s.opts),
      );
      return true;
    } catch (e) {
      if (_code(e) === G.NOT_FOUND) return false;
      // Only a destroyed version cannot be disabled: it is unreadable for good already.
      if (_code(e) === G.FAILED_PRECONDITION) return true;
      throw e;
    }
  };

  return {
    versions: (name) => (s.reserved(name) ? Promise.resolve(null) : listed('versions', name)),
    getVersion,
    retireVersion,
  };
}

function versionNumber(resource: string | null | undefined): number {
  return Number(/\/versions\/(\d+)$/.exec(resource ?? '')?.[1] ?? NaN);
}

/** Retired is absent to readers (DESIGN §16: `not_found`), with the way back that gcp keeps. */
function retired(name: string, version: string, path: string): Error {
  return new NotFoundError(
    `version ${version} of secret '${name}' was retired: the GCP secret version is disabled or destroyed (FAILED_PRECONDITION)`,
    `A disabled version can be enabled again: gcloud secrets versions enable ${version} --secret=${path.slice(path.lastIndexOf('/') + 1)}`,
  );
}
