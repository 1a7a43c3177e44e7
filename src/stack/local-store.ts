/**
 * What the CLI and the library know of a local manager's store file beyond the manager contract:
 * where it is, where its key comes from (for `status`), and whole-store backups. The local
 * flavor implements them; this is the one door to them above the flavors, so that nothing above
 * the stack layer imports a flavor.
 */
export { defaultStorePath, localStorePath } from '../flavors/local/index.js';
export { localKeySource, type LocalKeySource } from '../flavors/local/key.js';
export {
  installLocalBackup,
  openLocalBackup,
  sealLocalBackup,
  writePrivateFile,
  type BackupHeader,
} from '../flavors/local/backup.js';
