/**
 * keystack's own version, set by the build (scripts/build.mjs defines it); `dev` when run from
 * source. One place, so `keystack --version` and `keystack version` never disagree.
 */
declare const __KEYSTACK_VERSION__: string | undefined;
export const VERSION: string = typeof __KEYSTACK_VERSION__ === 'string' ? __KEYSTACK_VERSION__ : 'dev';
