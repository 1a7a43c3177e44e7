/**
 * A counting HTTP proxy on 127.0.0.1 for the calls-per-operation benchmarks: point a flavor's
 * endpoint at `url`, and every request it makes to the real server is counted on the way through.
 * No hook in production code is needed.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CountingProxy {
  url: string;
  /** Requests forwarded since the last reset. */
  readonly count: number;
  reset(): void;
  close(): Promise<void>;
}

export async function countingProxy(target: string): Promise<CountingProxy> {
  const to = new URL(target);
  let count = 0;
  const server = createServer((req, res) => {
    count++;
    const up = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get count() {
      return count;
    },
    reset: () => void (count = 0),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Runs `fn` and returns how many requests it made through `proxy`. */
export async function counted(proxy: CountingProxy, fn: () => Promise<unknown>): Promise<number> {
  proxy.reset();
  await fn();
  return proxy.count;
}
