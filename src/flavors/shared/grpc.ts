/** What gRPC flavors share: status codes, endpoints, and the failures a user can act on. */
import { ConfigError } from '../../errors.js';
import type { FailureClassifier } from '../../support/caller.js';

/** gRPC status codes (google.rpc.Code) keystack tells apart. */
export const GrpcCode = {
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

export function grpcCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '[::1]', 'localhost']);

/** `host:port` (host may be `[v6]`; port 443 when left out); `loopback` for emulators on this machine. */
export function parseEndpoint(flavor: string, endpoint: string): { host: string; port: number; loopback: boolean } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(endpoint);
  const host = m?.[1];
  if (!m || host === undefined)
    throw new ConfigError(`api_endpoint '${endpoint}' of the ${flavor} flavor is not host:port`);
  return { host, port: m[2] ? Number(m[2]) : 443, loopback: LOOPBACK.has(host) };
}

/** Throttling (RESOURCE_EXHAUSTED) is retried; auth, quota and connectivity failures get the flavor's next step. */
export function grpcClassifier(o: {
  service: string;
  accessHint: string;
  quotaHint: string;
  unreachableHint: string;
}): FailureClassifier {
  return {
    throttled: (e) => grpcCode(e) === GrpcCode.RESOURCE_EXHAUSTED,
    timedOut: (e) => grpcCode(e) === GrpcCode.DEADLINE_EXCEEDED,
    explain(e) {
      const code = grpcCode(e);
      if (code === GrpcCode.PERMISSION_DENIED || code === GrpcCode.UNAUTHENTICATED) {
        return {
          reason:
            code === GrpcCode.UNAUTHENTICATED
              ? 'not authenticated (UNAUTHENTICATED)'
              : 'permission denied (PERMISSION_DENIED)',
          hint: o.accessHint,
        };
      }
      if (code === GrpcCode.RESOURCE_EXHAUSTED)
        return { reason: 'quota exceeded (RESOURCE_EXHAUSTED)', hint: o.quotaHint };
      if (code === GrpcCode.UNAVAILABLE)
        return { reason: `cannot reach ${o.service} (UNAVAILABLE)`, hint: o.unreachableHint };
      return undefined;
    },
    unreachableHint: o.unreachableHint,
  };
}
