/**
 * gcp's client side: its config, the lazily imported gRPC client (plain text for an emulator on
 * this machine, TLS elsewhere) and how its errors read.
 */
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { importLib } from '../support/optional-import.js';
import { grpcClassifier, parseEndpoint } from './shared/grpc.js';

const FLAVOR_NAME = 'gcp';

export interface GcpFlavorOptions {
  /** The project that holds the secrets. */
  project_id: string;
  /**
   * `host:port` of the Secret Manager API. Loopback hosts (an emulator) get plain-text gRPC with no
   * credentials; any other host gets TLS. @default the public endpoint
   */
  api_endpoint?: string;
  /** A service-account key file. @default Application Default Credentials */
  credentials_file?: string;
}

export async function connect(o: GcpFlavorOptions): Promise<SecretManagerServiceClient> {
  const { v1 } = await importLib(
    FLAVOR_NAME,
    '@google-cloud/secret-manager',
    () => import('@google-cloud/secret-manager'),
  );
  // universeDomain set explicitly: otherwise the client asks the metadata server for it.
  const base = { projectId: o.project_id, universeDomain: 'googleapis.com' };
  if (!o.api_endpoint)
    return new v1.SecretManagerServiceClient({
      ...base,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- credentials_file is the user's own service-account key file (ZenML's option); the deprecation is about key files from untrusted sources
      ...(o.credentials_file ? { keyFilename: o.credentials_file } : {}),
    });
  const { host, port, loopback } = parseEndpoint(FLAVOR_NAME, o.api_endpoint);
  if (!loopback) {
    return new v1.SecretManagerServiceClient({
      ...base,
      apiEndpoint: host,
      port,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- credentials_file is the user's own service-account key file (ZenML's option); the deprecation is about key files from untrusted sources
      ...(o.credentials_file ? { keyFilename: o.credentials_file } : {}),
    });
  }
  const grpc = await importLib(FLAVOR_NAME, '@grpc/grpc-js', () => import('@grpc/grpc-js'));
  // An emulator: plain text and no credentials, so nothing asks for a token.
  return new v1.SecretManagerServiceClient({
    ...base,
    apiEndpoint: host.replace(/^\[|\]$/g, ''),
    port,
    sslCreds: grpc.credentials.createInsecure(),
  });
}

/** Throttling is retried; auth, quota and connectivity failures get a next step. */
export const CLASSIFY = grpcClassifier({
  service: 'the Secret Manager API',
  accessHint:
    'Check GOOGLE_APPLICATION_CREDENTIALS / credentials_file, and that the account has roles/secretmanager.admin (or secretAccessor + secretVersionAdder for read/write) on the project.',
  quotaHint: 'Wait and retry, or raise the Secret Manager quota of the project.',
  unreachableHint: 'Check api_endpoint and the network; for an emulator, check that it is running.',
});
