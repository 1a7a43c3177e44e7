// ZenML 0.30.0's own gcp secrets manager against the same server as keystack's (see suite.ts).
import { gcpBackend } from './backends.js';
import { describeZenmlInterop } from './suite.js';

describeZenmlInterop(gcpBackend());
