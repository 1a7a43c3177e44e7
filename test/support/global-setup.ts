import { execFileSync } from 'node:child_process';

/** Tests spawn the built CLI and import the built library, so build once per run. */
export default function setup(): void {
  if (process.env['KEYSTACK_SKIP_BUILD'] === '1') return;
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
}
