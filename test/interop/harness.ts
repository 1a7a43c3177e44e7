/**
 * The interop tier's plumbing: finds the ZenML 0.30.0 venv that scripts/emulators/install.sh made,
 * runs zenml_driver.py on a batch of operations, and describes a backend (InteropBackend) so that
 * suite.ts can run one matrix for every backend. To add a backend: an InteropBackend in
 * backends.ts, a `make_<id>` in zenml_driver.py, and a zenml-<id>.test.ts that calls
 * describeZenmlInterop (one file per backend, so that backends run in parallel).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FlavorDefinition } from '../../src/core/types.js';
import type { Scope, ScopeContext } from '../../src/secrets/scope.js';

const DRIVER = resolve('test/interop/zenml_driver.py');

/** The venv's python, or the reason there is none (install.sh records it in its stamp file). */
export function zenmlPython(): { python: string } | { unavailable: string } {
  const fromEnv = process.env['KEYSTACK_ZENML_PYTHON'];
  if (fromEnv) return { python: fromEnv };
  const emu =
    process.env['KEYSTACK_EMULATOR_DIR'] ??
    join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'keystack-emulators');
  const stamp = join(emu, '.stamps', 'zenml.result');
  if (!existsSync(stamp))
    return { unavailable: `ZenML 0.30.0 is not installed (no ${stamp}); run scripts/emulators/install.sh` };
  const [version, ...rest] = readFileSync(stamp, 'utf8').trim().split(' ');
  const detail = rest.join(' ');
  if (version === 'none') return { unavailable: `ZenML 0.30.0 could not be installed: ${detail}` };
  if (!existsSync(detail))
    return {
      unavailable: `the ZenML venv python ${detail} is missing; run scripts/emulators/install.sh with KEYSTACK_EMULATOR_FORCE=1`,
    };
  return { python: detail };
}

/** One manager as ZenML sees it: the same UUID and name as the keystack manager it is compared with. */
export interface ZenmlManager {
  scope: Scope;
  namespace?: string | undefined;
  uuid: string;
  name: string;
}

export type ZenmlOp =
  | { manager: ZenmlManager; op: 'register' | 'update'; schema: string; name: string; values: Record<string, unknown> }
  | { manager: ZenmlManager; op: 'get' | 'delete'; name: string }
  | { manager: ZenmlManager; op: 'list' | 'delete_all' };

export type ZenmlResult = { ok: true; result: unknown } | { ok: false; error: string; message: string };

/** What ZenML's get_secret returned: the schema TYPE and `secret.content` with pydantic's types. */
export interface ZenmlSecret {
  schema: string;
  content: Record<string, unknown>;
}

/** Runs a batch in one driver process (importing zenml takes seconds); one result per op. */
export function runZenml(
  python: string,
  backend: string,
  connection: Record<string, unknown>,
  ops: ZenmlOp[],
  extraEnv: Record<string, string> = {},
): ZenmlResult[] {
  const r = spawnSync(python, [DRIVER], {
    input: JSON.stringify({ backend, connection, ops }),
    encoding: 'utf8',
    timeout: 300_000,
    maxBuffer: 64 * 1024 * 1024,
    // A minimal environment: nothing of the developer's cloud setup reaches ZenML's SDK clients.
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: process.env['HOME'] ?? '/tmp',
      AWS_EC2_METADATA_DISABLED: 'true',
      METADATA_SERVER_DETECTION: 'none',
      NO_PROXY: '*',
      no_proxy: '*',
      ...extraEnv,
    },
  });
  if (r.status !== 0)
    throw new Error(`zenml_driver.py exited ${String(r.status ?? r.signal)}: ${r.stderr.slice(-2000)}`);
  const results = JSON.parse(r.stdout) as ZenmlResult[];
  if (results.length !== ops.length)
    throw new Error(`zenml_driver.py answered ${results.length} results for ${ops.length} ops`);
  return results;
}

/**
 * A secret as it sits in the backend, reduced to what the two tools must agree on. `payload` is
 * the stored JSON object (parsed, so the two JSON writers' whitespace and key order do not count),
 * `labels` the backend's tags or labels (null where the backend has none, e.g. Vault KV).
 */
export interface RawObject {
  id: string;
  payload: Record<string, unknown>;
  labels: Record<string, string> | null;
}

export interface InteropBackend {
  /** keystack flavor name, and the driver's backend name. */
  id: string;
  flavor: FlavorDefinition<unknown>;
  /** Why the backend's server is not there (its env variable unset), or null. */
  unavailable(): string | null;
  /** Settings for the driver's make_<id>. */
  connection(): Record<string, unknown>;
  /** The keystack manager's flavor config (scope fields are added by the test). */
  keystackConfig(): Record<string, unknown>;
  keystackEnv(): Record<string, string>;
  /** Extra environment for the driver process (e.g. a CA bundle for an HTTPS double). */
  driverEnv?(): Record<string, string>;
  /** The backend object of a secret, or null when it does not exist. */
  raw(scope: ScopeContext, name: string): Promise<RawObject | null>;
  /**
   * A label keystack's own updates add, whose value is the version they replaced (azure orders
   * versions written within one second by it; Key Vault keeps times in whole seconds). ZenML
   * ignores it; the tests compare it apart from ZenML's labels.
   */
  versionLabel?: string;
  /** Scopes whose ZenML side cannot run against this server, with the reason. */
  skipScopes?: Partial<Record<Scope, string>>;
  /** A namespace for the namespace scope; the backend's own rules decide what it may contain. */
  namespace(random: string): string;
  /** A secret name from a base; where the backend allows it, with a '.' as ZenML permits. */
  secretName(base: string): string;
  /** Longest secret name ZenML can write here in this scope (for the long-name check), or null to skip. */
  longName?(scope: ScopeContext): number | null;
  close?(): Promise<void> | void;
}
