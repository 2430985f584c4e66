// One HTTP exchange over node:http/https, with no policy: no redirects, no
// retries, no auth. Callers (the registry client) own those, because each
// needs registry-specific rules (drop Authorization across hosts, resume a
// blob with Range, …). node:http rather than fetch: streaming bodies as Node
// Readables, per-request TLS settings and a socket idle timeout.
import * as http from 'node:http';
import * as https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Idle time on the socket (connecting, waiting, or between body bytes). */
  timeoutMs?: number;
  /** Skip TLS certificate checks (only for registries the user marked insecure). */
  tlsInsecure?: boolean;
  agents?: HttpAgents;
  /** Aborts the request (and its body) when it fires. */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  url: URL;
}

/** Keep-alive agents shared by one client; destroy() frees the sockets. */
export class HttpAgents {
  readonly http = new http.Agent({ keepAlive: true, timeout: 30_000 });
  readonly https = new https.Agent({ keepAlive: true, timeout: 30_000 });
  readonly httpsInsecure = new https.Agent({ keepAlive: true, timeout: 30_000, rejectUnauthorized: false });
  destroy(): void {
    this.http.destroy();
    this.https.destroy();
    this.httpsInsecure.destroy();
  }
}

export function httpRequest(url: URL, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const isHttps = url.protocol === 'https:';
    const agent = opts.agents
      ? isHttps
        ? opts.tlsInsecure
          ? opts.agents.httpsInsecure
          : opts.agents.https
        : opts.agents.http
      : undefined;
    const headers: Record<string, string> = { 'user-agent': 'stream-my-root', ...opts.headers };
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
    const requestOptions: https.RequestOptions = {
      method: opts.method ?? 'GET',
      headers,
      agent,
      rejectUnauthorized: !opts.tlsInsecure,
      ...(opts.signal ? { signal: opts.signal } : {}),
    };
    const req = (isHttps ? https : http).request(url, requestOptions, (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
    });
    const timeoutMs = opts.timeoutMs ?? 60_000;
    req.setTimeout(timeoutMs, () => {
      const err = new Error(`no data from ${url.host} for ${Math.round(timeoutMs / 1000)} s`) as NodeJS.ErrnoException;
      err.code = 'ETIMEDOUT';
      req.destroy(err);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Reads a whole (small) body; fails past `limit` bytes rather than buffer a blob by mistake. */
export async function readBody(res: IncomingMessage, limit = 16 << 20): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      res.destroy();
      throw new Error(`response body larger than ${limit} bytes`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/** Drains and discards a body so the keep-alive socket can be reused. */
export function discardBody(res: IncomingMessage): void {
  res.resume();
  res.on('error', () => {});
}
