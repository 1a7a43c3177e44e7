// ZenML 0.30.0's own vault secrets manager against the same server as keystack's (see suite.ts).
import { vaultBackend } from './backends.js';
import { describeZenmlInterop } from './suite.js';

describeZenmlInterop(vaultBackend());
