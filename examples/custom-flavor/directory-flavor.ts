// A custom secrets-manager flavor: one JSON file per secret in a directory, e.g. a tmpfs or a
// volume mounted into a container. Register it with the CLI:
//   keystack secrets-manager flavor register examples/custom-flavor/directory-flavor.ts
//   keystack secrets-manager register files --flavor=directory --path=/run/secrets/keystack
//
// The files hold the values in plain JSON (mode 0600, directories 0700): use this flavor only
// where the directory itself is protected. See docs/custom-flavors.md for the contract.
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import {
  decodeContent,
  defineFlavor,
  defineSchema,
  encodeContent,
  scopePath,
  type FlavorContext,
  type SecretsBackend,
  type StoredSecret,
} from 'keystack';

export interface DirectoryFlavorOptions {
  /** The store directory. @default `<config dir>/directory_stores/default` */
  path?: string;
}

/** A schema that ships with the flavor: `keystack secret register t -s api_token --token=...`. */
export const apiToken = defineSchema(
  'api_token',
  z.object({
    token: z.string().min(8).describe('the token'),
    endpoint: z.url().optional().describe('API endpoint it is valid for'),
    expires_days: z.number().int().positive().default(90).describe('days until rotation'),
  }),
  { description: 'A bearer token for an HTTP API.' },
);

export default defineFlavor<DirectoryFlavorOptions>({
  name: 'directory',
  description: 'One JSON file per secret in a directory (example custom flavor)',
  supportsScoping: true,
  isLocal: true,
  // File names: no dots keeps `<name>.json` unambiguous, and no case folding surprises.
  nameRule: { pattern: /[A-Za-z0-9_-]+/, maxLength: 128, description: 'must contain only letters, digits, - and _' },
  maxContentBytes: 256 * 1024,
  config: {
    path: { type: 'string', description: 'store directory (default: <config dir>/directory_stores/default)' },
  },
  schemas: [apiToken],
  // No I/O here: the directory is only touched by the operations.
  create: (ctx) => createDirectoryBackend(ctx),
});

function createDirectoryBackend(ctx: FlavorContext<DirectoryFlavorOptions>): SecretsBackend {
  const root = resolve(ctx.config.path ?? join(ctx.configDir, 'directory_stores', 'default'));
  // The scope path becomes sub-directories: <root>/keystack/component/<uuid>/<name>.json.
  const dir = join(root, ...scopePath(ctx.scope));
  const file = (name: string) => join(dir, `${name}.json`);
  const encode = (secret: StoredSecret) => encodeContent(secret, ctx.scope.prefix);

  return {
    async create(name, secret) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // Write the whole file aside, then hard-link it into place: link() fails with EEXIST when
      // the name is taken, so two concurrent registers cannot both win, and no reader sees half a file.
      const tmp = await writeTemp(dir, encode(secret));
      try {
        await link(tmp, file(name));
        return true;
      } catch (e) {
        if (code(e) === 'EEXIST') return false;
        throw e;
      } finally {
        await rm(tmp, { force: true });
      }
    },
    async get(name) {
      try {
        return decodeContent(await readFile(file(name), 'utf8'), ctx.scope.prefix);
      } catch (e) {
        if (code(e) === 'ENOENT') return null; // absence is a value, not an error
        throw e;
      }
    },
    async list() {
      try {
        const entries = await readdir(dir, { withFileTypes: true });
        return entries
          .filter((e) => e.isFile() && e.name.endsWith('.json'))
          .map((e) => e.name.slice(0, -'.json'.length));
      } catch (e) {
        if (code(e) === 'ENOENT') return [];
        throw e;
      }
    },
    async update(name, secret) {
      if ((await this.get(name)) === null) return false;
      // Rename a complete file over the old one, so a reader never sees half a secret. (A delete
      // racing between the check and the rename is undone; a lock file would close that gap.)
      const tmp = await writeTemp(dir, encode(secret));
      await rename(tmp, file(name));
      return true;
    },
    async delete(name) {
      try {
        await unlink(file(name));
        return true;
      } catch (e) {
        if (code(e) === 'ENOENT') return false;
        throw e;
      }
    },
  };
}

async function writeTemp(dir: string, data: string): Promise<string> {
  const tmp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(data, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  return tmp;
}

function code(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}
