/**
 * The AWS SDK's own console noise. keystack pins the SDK line that supports Node 20; on Node < 22
 * the SDK would print a multi-line NodeVersionSupportWarning (through process.emitWarning) into
 * CLI output, pipeline runs and worker logs, about future releases its users cannot act on.
 */
const NOTICE_OFF = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

/**
 * Builds an SDK client with that notice off. The SDK reads this variable only, synchronously,
 * while a client is constructed (and then never again in the process), so it is set for that call
 * alone: other warnings still print, and the process environment, which child processes and the
 * user's own code inherit, is left as it was.
 */
export function withoutNodeVersionNotice<T>(construct: () => T): T {
  const before = process.env[NOTICE_OFF];
  process.env[NOTICE_OFF] = 'true';
  try {
    return construct();
  } finally {
    if (before === undefined) Reflect.deleteProperty(process.env, NOTICE_OFF);
    else process.env[NOTICE_OFF] = before;
  }
}
