// A small fault-injecting HTTP proxy for store tests: it forwards every
// request to a real server unchanged (the Host header included, so S3
// signatures still match) unless the test's plan says otherwise for that
// request: answer 503 SlowDown, reset the connection, or stall (hold the
// request unanswered until the proxy closes). Decisions go by
// request number and method, never by time, so tests stay deterministic.
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault = 'pass' | 'slowdown' | 'reset' | 'stall';

export interface FaultProxy {
  url: string;
  /** Requests seen, and how many of them were faulted. */
  counts: { requests: number; faulted: number };
  /** Replaces the plan (request number from 1, method, path) -> fault. */
  setPlan(plan: (n: number, req: IncomingMessage) => Fault): void;
  close(): Promise<void>;
}

const SLOWDOWN = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const to = new URL(target);
  let plan: (n: number, req: IncomingMessage) => Fault = () => 'pass';
  const counts = { requests: 0, faulted: 0 };
  const server: Server = createServer((req, res) => {
    const fault = plan(++counts.requests, req);
    if (fault !== 'pass') counts.faulted++;
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault === 'stall') return;
    if (fault === 'slowdown') {
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(SLOWDOWN) });
      res.end(SLOWDOWN);
      return;
    }
    const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      ures.pipe(res);
    });
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    setPlan(p) {
      plan = p;
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
