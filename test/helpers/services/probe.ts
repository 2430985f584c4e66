// Readiness probes that speak the server's own protocol, so "ready" means
// it answers requests, not just that its port is open.
import { connect } from 'node:net';

/** Sends `request` over TCP and resolves true once the reply starts with `expect`. */
export function tcpAnswers(port: number, request: string, expect: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    let reply = '';
    const sock = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write(request));
    sock.on('data', (d) => {
      reply += d.toString('latin1');
      if (reply.length >= expect.length) done(reply.startsWith(expect));
    });
  });
}

/** A GET answered with `status`. */
export async function httpAnswers(url: string, status = 200): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  await res.arrayBuffer();
  return res.status === status;
}
