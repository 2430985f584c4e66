// A dir store's tree behind any web server or CDN, read-only:
//   BASE/chunks/sha256/<2 hex>/<hex>
// 404 is a missing chunk. Node's fetch (undici) pools keep-alive
// connections per origin, so a serve pays the TCP/TLS set-up once.
import { SmrError } from '../../util/errors.js';
import { checkChunkName, chunkKey } from '../chunk-name.js';
import { isRetryableNetworkError, isRetryableStatus, retryAfterMs } from '../remote/http-status.js';
import { RemoteReader, type RemoteReadOptions } from '../remote/remote-reader.js';
import type { ChunkReader } from '../types.js';

class HttpStatusError extends Error {
  constructor(readonly status: number, readonly retryAfter: number | null, message: string) {
    super(message);
  }
}

export class HttpStore implements ChunkReader {
  readonly description: string;
  readonly remote = true;
  readonly reader: RemoteReader;
  private readonly base: string;

  constructor(base: URL, opts: RemoteReadOptions = {}) {
    this.base = base.href.replace(/\/+$/, '');
    this.description = this.base;
    this.reader = new RemoteReader(this.description, (name, signal) => this.fetchChunk(name, signal), classify, opts);
  }

  private url(name: string): string {
    return `${this.base}/${chunkKey(checkChunkName(name))}`;
  }

  private async fetchChunk(name: string, signal: AbortSignal): Promise<Buffer | null> {
    const res = await fetch(this.url(name), { signal });
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    check(res, this.base);
    return Buffer.from(await res.arrayBuffer());
  }

  async get(name: string): Promise<Buffer> {
    return this.reader.get(checkChunkName(name));
  }

  async has(name: string): Promise<boolean> {
    const res = await fetch(this.url(name), { method: 'HEAD', signal: AbortSignal.timeout(30_000) });
    if (res.status === 404) return false;
    check(res, this.base);
    return true;
  }
}

function check(res: Response, base: string): void {
  if (res.ok) return;
  void res.body?.cancel();
  if (res.status === 401 || res.status === 403) {
    throw new SmrError('STORE_DENIED', `${base} refused access (HTTP ${res.status}); check the URL, or that the server allows reading the store's files`);
  }
  throw new HttpStatusError(res.status, retryAfterMs(res.headers.get('retry-after')), `${base} answered HTTP ${res.status}`);
}

function classify(err: unknown): boolean | number {
  if (err instanceof HttpStatusError) return isRetryableStatus(err.status) ? (err.retryAfter ?? true) : false;
  return isRetryableNetworkError(err);
}
