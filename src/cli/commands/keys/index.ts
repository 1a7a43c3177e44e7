/**
 * `keystack keys …`: the signing keys of remote runs. A client signs each step it submits and a
 * worker signs each result it returns; each side runs or records only what a key it trusts
 * signed. These commands print this machine's public keys, keep its trust lists, and roll a key
 * over without a moment where the other side refuses it.
 */
import { defineGroup } from '../../define.js';
import list from './list.js';
import rotate from './rotate.js';
import showPublic from './show-public.js';
import trust from './trust.js';
import untrust from './untrust.js';

export default defineGroup({
  path: 'keys',
  description: 'signing keys of remote runs: what a worker trusts to run, and what a client trusts to record',
  examples: ['keystack keys show-public > client.pub', 'keystack keys list'],
  commands: [showPublic, trust, untrust, list, rotate],
});
