// --metrics HOST:PORT: Prometheus text exposition at /metrics, nothing else.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { SmrError } from '../util/errors.js';

export interface MetricsServer {
  /** host:port actually bound (port 0 picks one). */
  address: string;
  close(): Promise<void>;
}

export function parseHostPort(text: string, option: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) throw new SmrError('USAGE', `${option}: expected HOST:PORT, got '${text}'`);
  return { host: m[1]!.replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(m[2]) };
}

export async function startMetricsServer(listen: string, registry: Registry): Promise<MetricsServer> {
  const { host, port } = parseHostPort(listen, '--metrics');
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new SmrError('METRICS_LISTEN', `--metrics ${listen}: ${e.code === 'EADDRINUSE' ? 'address in use' : e.message}`)));
    server.listen(port, host, resolve);
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections(); // scrapers keep connections alive
      }),
  };
}
