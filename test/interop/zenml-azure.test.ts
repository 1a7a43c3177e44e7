// ZenML 0.30.0's own azure secrets manager against the same server as keystack's (see suite.ts).
import { azureBackend } from './backends.js';
import { describeZenmlInterop } from './suite.js';

describeZenmlInterop(azureBackend());
