/** Why `keystack run` could not start its command (a module of its own: main.ts maps it to an exit code). */
import { KeystackError } from '../errors.js';

/** The child could not be started; `reason` decides the exit code (127 and 126, as shells use). */
export class ChildStartError extends KeystackError {
  readonly reason: 'not_found' | 'not_executable' | 'other';
  constructor(reason: ChildStartError['reason'], message: string, hint: string) {
    super(reason === 'not_found' ? 'not_found' : 'input', message, { hint });
    this.reason = reason;
  }
}
