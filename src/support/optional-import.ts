/**
 * Optional packages (cloud SDKs, BullMQ) load on first use, so that a user who never touches a
 * backend never installs or loads its SDK; a missing one is a clear error naming the package.
 */
import { ConfigError } from '../errors.js';

/**
 * Loads an optional SDK on first use. A missing package becomes a ConfigError that says which
 * package to install, instead of a module-resolution stack trace.
 */
export async function importLib<T>(flavor: string, pkg: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new ConfigError(`the ${flavor} flavor needs the npm package '${pkg}', which is not installed`, {
        hint: `Install it next to keystack: npm install ${pkg}`,
      });
    }
    throw e;
  }
}
