/**
 * Every command of the tree, run with --json on a local store, prints what its definition's shape
 * (src/cli/commands/<group>/<command>.ts; legacy commands: src/cli/json-shapes.ts) says it prints. A command without a shape, or without a run here, fails this test: add both
 * when you add a command.
 */
import type { Command } from 'commander';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { commandTree } from '../../src/cli/main.js';
import { JSON_ERROR_SHAPE, JSON_SHAPES_PENDING, jsonShapes } from '../../src/cli/json-shapes.js';
import { spawn } from 'node:child_process';
import { BIN, cli, tempEnv } from '../support/cli.js';

const JSON_SHAPES = await jsonShapes();

/** Runnable (visible, leaf) command paths of the tree, e.g. `secret register`. */
function leafPaths(cmd: Command, prefix: string[] = []): string[] {
  const subs = cmd
    .createHelp()
    .visibleCommands(cmd)
    .filter((c) => c.name() !== 'help');
  if (subs.length === 0) return prefix.length ? [prefix.join(' ')] : [];
  return subs.flatMap((c) => leafPaths(c, [...prefix, c.name()]));
}

interface Scenario {
  path: string;
  args: string[];
  input?: string;
  env?: Record<string, string>;
  /** `CONFIG_DIR`: run in the temporary config dir (commands that write in the working directory). */
  cwd?: 'CONFIG_DIR';
}

const BACKUP_PASS = { KEYSTACK_BACKUP_PASSPHRASE: 'json shapes passphrase' };

/** One run per command at least, in an order where each finds what it needs. */
const SCENARIOS: Scenario[] = [
  { path: 'status', args: [] },
  { path: 'init', args: ['--stack', 'default'], cwd: 'CONFIG_DIR' },
  { path: 'completion', args: ['bash'] },
  { path: 'secrets-manager flavor list', args: [] },
  { path: 'secrets-manager flavor describe', args: ['aws'] },
  { path: 'secrets-manager register', args: ['team', '-f', 'local', '--scope=namespace', '--namespace=ml'] },
  { path: 'secrets-manager list', args: [] },
  { path: 'secrets-manager describe', args: ['team'] },
  { path: 'secrets-manager update', args: ['team', '--namespace=ml2'] },
  { path: 'secrets-manager flavor register', args: ['examples/custom-flavor/directory-flavor.ts'] },
  { path: 'secrets-manager flavor unregister', args: ['examples/custom-flavor/directory-flavor.ts'] },
  { path: 'schema register', args: ['examples/custom-schema/schemas.ts'] },
  { path: 'schema list', args: [] },
  // wandb's `offline` defaults to false: the JSON default must be the boolean.
  { path: 'schema describe', args: ['wandb'] },
  { path: 'secret register', args: ['db', '--username=admin', '--password=@-'], input: 'pw-value-1234' },
  { path: 'secret get', args: ['db'] },
  { path: 'secret get', args: ['db', '--key', 'username'] },
  { path: 'secret get', args: ['db.username'] },
  { path: 'read', args: ['db.username'] },
  { path: 'secret set', args: ['db', '--port=5432'] },
  { path: 'secret set', args: ['db_new', '--a=1'] },
  { path: 'secret list', args: [] },
  { path: 'secret list', args: ['d*', '--prefix', 'd', '--format', 'json'] },
  { path: 'secret describe', args: ['db'] },
  { path: 'secret update', args: ['db', '--host=db.internal', '--remove-key', 'username'] },
  { path: 'secret history', args: ['db', '--limit', '3'] },
  { path: 'secret diff', args: ['db'] },
  { path: 'secret get', args: ['db', '--version', 'previous'] },
  { path: 'secret get', args: ['db', '--version', '1', '--key', 'username'] },
  { path: 'secret rollback', args: ['db', '--to', 'previous', '-y'] },
  { path: 'secrets-manager secret history', args: ['db'] },
  { path: 'secrets-manager secret diff', args: ['db', '1', 'current'] },
  { path: 'secrets-manager secret rollback', args: ['db', '--to', 'previous', '-y'] },
  { path: 'secret rotate', args: ['db', '--password=@-', '--since', '1d'], input: 'pw-rotated-9012' },
  { path: 'secrets-manager secret rotate', args: ['db', '--finish', '-y'] },
  { path: 'version', args: [] },
  { path: 'secrets-manager backup', args: ['-o', 'BACKUP_FILE'], env: BACKUP_PASS },
  { path: 'secrets-manager restore', args: ['--from', 'BACKUP_FILE', '-f'], env: BACKUP_PASS },
  { path: 'secret rename', args: ['db', 'db_renamed', '--dry-run'] },
  { path: 'secret rename', args: ['db', 'db_renamed', '-y'] },
  { path: 'secret rename', args: ['db_renamed', 'db', '-y'] },
  { path: 'secret delete', args: ['db', '-y'] },
  { path: 'secret delete-all', args: ['-y'] },
  { path: 'secrets-manager secret register', args: ['db2', '--a=1'] },
  { path: 'secrets-manager secret get', args: ['db2'] },
  { path: 'secrets-manager secret list', args: [] },
  { path: 'secrets-manager secret describe', args: ['db2'] },
  { path: 'secrets-manager secret update', args: ['db2', '--b=2'] },
  { path: 'secrets-manager secret set', args: ['db2', '--c=3'] },
  { path: 'secrets-manager secret rename', args: ['db2', 'db2r', '--dry-run'] },
  { path: 'export', args: ['db2', '--format', 'json'] },
  {
    path: 'import',
    args: ['-', '--format', 'json', '--on-conflict', 'update'],
    input: '{"imp": {"k": "imported-1234"}}',
  },
  { path: 'secret copy', args: ['--from', 'default', '--to', 'team', 'db2', '--on-conflict', 'update'] },
  { path: 'secrets-manager secret copy', args: ['--from', 'default', '--to', 'team', 'imp', '--dry-run'] },
  { path: 'secrets-manager secret used-by', args: ['db2', '--key', 'a'] },
  { path: 'secrets-manager secret delete', args: ['db2', '-y'] },
  { path: 'secrets-manager secret delete-all', args: ['-y'] },
  { path: 'orchestrator register', args: ['proc', '-f', 'local_process'] },
  { path: 'orchestrator list', args: [] },
  { path: 'orchestrator describe', args: ['proc'] },
  { path: 'orchestrator update', args: ['proc', '--x='] },
  { path: 'orchestrator flavor list', args: [] },
  { path: 'artifact-store register', args: ['art', '-f', 'local', '--encryption_key={{artifacts.key}}'] },
  { path: 'artifact-store list', args: [] },
  { path: 'artifact-store describe', args: ['art'] },
  { path: 'artifact-store update', args: ['art', '--encryption_key={{artifacts.key}}'] },
  { path: 'artifact-store flavor list', args: [] },
  { path: 'container-registry register', args: ['reg', '-f', 'default', '--uri=registry.example.com'] },
  { path: 'container-registry list', args: [] },
  { path: 'container-registry describe', args: ['reg'] },
  { path: 'container-registry update', args: ['reg', '--uri=registry2.example.com'] },
  { path: 'container-registry flavor list', args: [] },
  { path: 'orchestrator flavor describe', args: ['local_process'] },
  { path: 'artifact-store flavor describe', args: ['local'] },
  { path: 'container-registry flavor describe', args: ['default'] },
  { path: 'step-operator register', args: ['gpu', '-f', 'bullmq', '--redis_url={{redis.url}}', '--queue=gpu'] },
  { path: 'step-operator list', args: [] },
  { path: 'step-operator describe', args: ['gpu'] },
  { path: 'step-operator update', args: ['gpu', '--queue=gpu2'] },
  { path: 'step-operator flavor list', args: [] },
  { path: 'step-operator flavor describe', args: ['bullmq'] },
  { path: 'step-operator delete', args: ['gpu', '-y'] },
  { path: 'stack register', args: ['s', '-x', 'team', '-o', 'proc', '-a', 'art', '-c', 'reg', '--set'] },
  { path: 'stack list', args: [] },
  { path: 'stack describe', args: [] },
  { path: 'stack register-secrets', args: ['--values', 'VALUES_FILE'] },
  { path: 'stack validate', args: [] },
  { path: 'stack update', args: ['s', '-a', 'default'] },
  { path: 'stack remove-component', args: ['s', '-c'] },
  { path: 'stack register-secrets', args: [] },
  { path: 'stack set', args: ['default'] },
  // The example pipeline reads data_api.token.
  { path: 'secret register', args: ['data_api', '--token=@-'], input: 'token-value-5678' },
  { path: 'pipeline validate', args: ['examples/pipeline/pipeline.ts'] },
  { path: 'pipeline run', args: ['examples/pipeline/pipeline.ts'] },
  { path: 'pipeline runs list', args: [] },
  { path: 'pipeline runs describe', args: ['RUN_ID'] },
  { path: 'secret used-by', args: ['data_api', '--since', '7d'] },
  { path: 'secret used-by', args: ['--value', '@-'], input: 'token-value-5678' },
  { path: 'audit', args: ['--denied'] },
  // Clean (exit 0): none of this run's secret values is in these files.
  { path: 'scan', args: ['examples/custom-schema', '--all-managers'] },
  { path: 'pipeline runs prune', args: ['--dry-run'] },
  { path: 'pipeline runs prune', args: ['--older-than', '30d', '-y'] },
  { path: 'stack delete', args: ['s', '-y'] },
  { path: 'container-registry delete', args: ['reg', '-y'] },
  { path: 'artifact-store delete', args: ['art', '-y'] },
  { path: 'orchestrator delete', args: ['proc', '-y'] },
  { path: 'secrets-manager delete', args: ['team', '-y'] },
  { path: 'run', args: ['--', 'true'] },
  { path: 'inject', args: ['-i', '-'], input: 'plain text' },
  // Signing keys of remote runs: this config dir is both the client and a worker here.
  { path: 'keys show-public', args: [] },
  { path: 'keys show-public', args: ['--role', 'worker'] },
  { path: 'keys trust', args: ['WORKER_PUBLIC_KEY', '--name', 'box-1'] },
  { path: 'keys trust', args: ['--role', 'client', 'CLIENT_KEY_FILE'] },
  { path: 'keys list', args: [] },
  { path: 'keys rotate', args: [] },
  { path: 'keys list', args: [] },
  { path: 'keys rotate', args: ['--activate'] },
  { path: 'keys untrust', args: ['box-1'] },
];

/** Object keys a shape defines (not the keys of records: those are data). */
function definedKeys(schema: unknown, out: string[] = []): string[] {
  if (schema === null || typeof schema !== 'object') return out;
  const s = schema as { properties?: Record<string, unknown> };
  if (s.properties) out.push(...Object.keys(s.properties));
  for (const v of Object.values(schema)) definedKeys(v, out);
  return out;
}

describe('--json shapes (src/cli/json-shapes.ts)', () => {
  it('every command of the tree has a shape, and every shape a command', async () => {
    const paths = leafPaths(await commandTree());
    expect(paths.length).toBeGreaterThan(40);
    expect(
      paths.filter((p) => !(p in JSON_SHAPES) && !(p in JSON_SHAPES_PENDING)),
      'commands without a --json shape',
    ).toEqual([]);
    expect(
      Object.keys(JSON_SHAPES_PENDING).filter((p) => !paths.includes(p) || p in JSON_SHAPES),
      'stale entries in JSON_SHAPES_PENDING',
    ).toEqual([]);
    expect(
      Object.keys(JSON_SHAPES).filter((p) => !paths.includes(p)),
      'shapes of commands that do not exist',
    ).toEqual([]);
  });

  it('every shape is an object (lists are named arrays) with camelCase keys', () => {
    for (const [path, shape] of Object.entries(JSON_SHAPES)) {
      const json = z.toJSONSchema(shape, { unrepresentable: 'any' }) as { type?: string; anyOf?: { type?: string }[] };
      const tops = json.anyOf ? json.anyOf.map((a) => a.type) : [json.type];
      expect(tops, path).toEqual(tops.map(() => 'object'));
      const bad = definedKeys(json).filter((k) => !/^[a-z][a-zA-Z0-9]*$/.test(k));
      expect(bad, `${path}: keys must be camelCase`).toEqual([]);
    }
  });

  it('every command prints its shape with --json', async () => {
    const paths = leafPaths(await commandTree());
    const e = tempEnv();
    const valuesFile = join(e.configDir, 'values.json');
    writeFileSync(valuesFile, JSON.stringify({ artifacts: { key: 'artifact-passphrase-0123' } }), { mode: 0o600 });
    let runId = '';
    let workerKey = '';
    let keysOutput = '';
    const clientKeyFile = join(e.configDir, 'client.pub');
    const covered = new Set<string>();
    for (const sc of SCENARIOS) {
      expect(sc.args.length === 0 || !sc.path.endsWith(sc.args[0] ?? '')).toBe(true);
      const placeholders: Record<string, string> = {
        VALUES_FILE: valuesFile,
        RUN_ID: runId,
        BACKUP_FILE: join(e.configDir, 'backup.json'),
        WORKER_PUBLIC_KEY: workerKey,
        CLIENT_KEY_FILE: clientKeyFile,
      };
      const args = sc.args.map((a) => placeholders[a] ?? a);
      const r = cli(e, ['--json', ...sc.path.split(' '), ...args], {
        ...(sc.input === undefined ? {} : { input: sc.input }),
        ...(sc.env ? { env: sc.env } : {}),
        ...(sc.cwd ? { cwd: e.configDir } : {}),
      });
      expect(r.status, `keystack ${sc.path} ${args.join(' ')}: ${r.stderr}${r.stdout}`).toBe(0);
      const shape = JSON_SHAPES[sc.path];
      expect(shape, sc.path).toBeDefined();
      const parsed = shape?.safeParse(JSON.parse(r.stdout));
      expect(parsed?.error?.issues ?? [], `keystack --json ${sc.path}: ${r.stdout}`).toEqual([]);
      if (sc.path === 'pipeline run') runId = (JSON.parse(r.stdout) as { run: { id: string } }).run.id;
      if (sc.path === 'keys show-public') {
        const shown = JSON.parse(r.stdout) as { role: string; publicKey: string };
        if (shown.role === 'worker') workerKey = shown.publicKey;
        else writeFileSync(clientKeyFile, `${shown.publicKey}\n`, { mode: 0o600 });
      }
      if (sc.path.startsWith('keys ')) keysOutput += r.stdout + r.stderr;
      if (sc.path === 'schema describe') {
        const fields = (JSON.parse(r.stdout) as { fields: { key: string; default?: unknown }[] }).fields;
        expect(fields.find((f) => f.key === 'offline')?.default).toBe(false);
      }
      if (!sc.path.endsWith('secret get')) expect(r.stdout + r.stderr).not.toContain('pw-value-1234');
      if (sc.path === 'secret used-by') expect(r.stdout + r.stderr).not.toContain('token-value-5678');
      if (sc.path.endsWith('secret rotate')) expect(r.stdout + r.stderr).not.toContain('pw-rotated-9012');
      covered.add(sc.path);
    }
    // The key files hold private keys: no `keys` command prints one (current, next or retired).
    const keysDir = join(e.env['KEYSTACK_CONFIG_DIR'] ?? '', 'keys');
    const keyFiles = readdirSync(keysDir).filter((f) => f.endsWith('.ed25519'));
    expect(keyFiles.length).toBeGreaterThanOrEqual(3);
    for (const f of keyFiles) {
      const body = readFileSync(join(keysDir, f), 'utf8')
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('-----'))
        .join('');
      expect(body.length).toBeGreaterThan(40);
      expect(keysOutput).not.toContain(body);
    }
    // `worker` runs until SIGTERM against a Redis: test/remote/ runs it (its --json shape is not run here).
    // `ui` serves until stopped: its own test below reads its one document.
    const longRunning = new Set(['worker', 'ui']);
    expect(
      paths.filter((p) => !covered.has(p) && !longRunning.has(p) && !(p in JSON_SHAPES_PENDING)),
      'commands this test does not run: add a scenario',
    ).toEqual([]);
    // Some 100 CLI runs one after another: over the default 60 s on a loaded two-core machine.
  }, 360_000);

  it('keystack --json ui prints its shape once listening, and nothing more when stopped', async () => {
    const e = tempEnv();
    const p = spawn(process.execPath, [BIN, '--json', 'ui', '--no-open'], {
      env: e.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<string>((res) => p.on('exit', (code, signal) => res(String(code ?? signal))));
    const doc = await new Promise<unknown>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no document: ${stdout}`)), 30_000);
      p.stdout.on('data', () => {
        try {
          res(JSON.parse(stdout));
          clearTimeout(t);
        } catch {
          // not the whole document yet
        }
      });
    });
    expect(JSON_SHAPES['ui']?.safeParse(doc).error?.issues ?? []).toEqual([]);
    p.kill('SIGTERM');
    expect(await exited, stderr).toBe('0');
    expect(JSON.parse(stdout)).toEqual(doc);
  }, 60_000);

  for (const [path, reason] of Object.entries(JSON_SHAPES_PENDING)) {
    it(`pending: keystack ${path}`, (ctx) => ctx.skip(reason));
  }

  it('a failing command prints the error shape, for a usage error (2) and a failure (1)', () => {
    const e = tempEnv();
    for (const [args, status] of [
      [['secret', 'get', 'nope'], 1],
      [['secret', 'get'], 2],
      [['stack', 'set', 'nope'], 1],
    ] as const) {
      const r = cli(e, ['--json', ...args]);
      expect(r.status).toBe(status);
      expect(JSON_ERROR_SHAPE.safeParse(JSON.parse(r.stdout)).error?.issues ?? []).toEqual([]);
    }
  });
});
