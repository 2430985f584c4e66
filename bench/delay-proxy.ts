// A forwarding HTTP proxy that holds every request for a fixed delay before
// passing it on: a far-away origin (S3 in another region, a CDN miss) in
// front of a server on this machine. With `tailEvery` N, every Nth request
// waits `tailMs` instead: the slow tail real object stores have, which
// hedging is for. The Host header is kept, so S3 signatures still match.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function startDelayProxy(target: string, delayMs: number, tail: { every: number; ms: number } | null = null): Promise<{ url: string; requests: () => number; gets: Map<string, number>; close(): Promise<void> }> {
  const to = new URL(target);
  let requests = 0;
  /** GET requests by path (clear it to count a phase). */
  const gets = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    requests++;
    if (req.method === 'GET') gets.set(req.url ?? '', (gets.get(req.url ?? '') ?? 0) + 1);
    const wait = tail && requests % tail.every === 0 ? tail.ms : delayMs;
    setTimeout(() => {
      const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (ures) => {
        res.writeHead(ures.statusCode ?? 502, ures.headers);
        ures.pipe(res);
      });
      up.on('error', () => req.socket.destroy());
      req.pipe(up);
    }, wait);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    gets,
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}
