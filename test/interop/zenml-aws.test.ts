// ZenML 0.30.0's own aws secrets manager against the same server as keystack's (see suite.ts).
import { awsBackend } from './backends.js';
import { describeZenmlInterop } from './suite.js';

describeZenmlInterop(awsBackend());
