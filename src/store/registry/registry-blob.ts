// Blobs of one repository over the distribution API, for the registry store
// and its recipe artifacts: existence (HEAD), bounded reads (GET, digest
// checked by the caller), monolithic uploads (POST then PUT with the digest,
// which the registry checks), and cross-repository mounts.
import type { IncomingHttpHeaders } from 'node:http';
import { errorDetail, type RegistryClient } from '../../oci/registry-client.js';
import { SmrError } from '../../util/errors.js';
import { discardBody, readBody } from '../../util/http.js';

/** A status the caller may retry (the reader classifies these). */
export class BlobStatusError extends Error {
  constructor(readonly status: number, readonly retryAfter: string | undefined, message: string) {
    super(message);
  }
}

export async function blobExists(client: RegistryClient, digest: string, signal?: AbortSignal): Promise<{ size: number } | null> {
  const url = await client.v2(`blobs/${digest}`);
  const res = await client.send(url, { method: 'HEAD', ...(signal ? { signal } : {}) }, `HEAD ${url.pathname}`, [200, 404]);
  discardBody(res.body);
  if (res.status === 404) return null;
  if (res.status !== 200) throw new SmrError('REGISTRY_ERROR', `${client.target}: HEAD of blob ${digest} answered ${res.status}`);
  return { size: Number(res.headers['content-length'] ?? -1) };
}

/** The blob's bytes (at most `limit`), or null when the repository has no such blob. */
export async function getBlob(
  client: RegistryClient,
  digest: string,
  limit: number,
  opts: { signal?: AbortSignal; attempts?: number } = {},
): Promise<Buffer | null> {
  const url = await client.v2(`blobs/${digest}`);
  const res = await client.send(url, { ...opts }, `GET ${url.pathname}`, [200, 404]);
  if (res.status === 404) {
    discardBody(res.body);
    return null;
  }
  if (res.status !== 200) {
    const detail = await errorDetail(res);
    throw new BlobStatusError(res.status, header(res.headers, 'retry-after'), `${client.target}: GET of blob ${digest} answered ${res.status}${detail}`);
  }
  if (Number(res.headers['content-length'] ?? 0) > limit) {
    res.body.destroy();
    throw new SmrError('REGISTRY_ERROR', `${client.target}: blob ${digest} is larger than ${limit} bytes`);
  }
  return readBody(res.body, limit);
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Uploads bytes as blob `digest`: one POST for a session, one PUT with the digest. */
export async function uploadBlob(client: RegistryClient, digest: string, data: Buffer): Promise<void> {
  const url = await client.v2('blobs/uploads/');
  const started = await client.send(url, { method: 'POST', headers: { 'content-length': '0' } }, `POST ${url.pathname}`, [202]);
  if (started.status !== 202) throw await refused(client, started, `start an upload of ${digest}`);
  discardBody(started.body);
  const location = uploadLocation(started.headers, url);
  location.searchParams.set('digest', digest);
  const res = await client.send(
    location,
    { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } },
    `PUT ${location.pathname}`,
    [201],
  );
  if (res.status !== 201) {
    // A retried PUT whose first try went through finds its session gone: what matters is the blob.
    const err = await refused(client, res, `upload ${digest}`);
    if (res.status === 404 && (await blobExists(client, digest))?.size === data.length) return;
    throw err;
  }
  discardBody(res.body);
  const stored = header(res.headers, 'docker-content-digest');
  if (stored !== undefined && stored !== digest) {
    throw new SmrError('REGISTRY_ERROR', `${client.target}: the registry stored ${digest} as ${stored}`);
  }
}

/**
 * Mounts blob `digest` from another repository of the registry; true when
 * it did. A registry that cannot mount opens an upload session instead,
 * which is cancelled here (the caller uploads the bytes if it has them).
 */
export async function mountBlob(client: RegistryClient, digest: string, from: string): Promise<boolean> {
  const url = await client.v2(`blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`);
  const scope = `${client.scope} repository:${from}:pull`;
  const res = await client.send(url, { method: 'POST', scope, headers: { 'content-length': '0' } }, `POST ${url.pathname} (mount)`, [201, 202]);
  discardBody(res.body);
  if (res.status === 201) return true;
  if (res.status === 202) {
    const session = uploadLocation(res.headers, url);
    const del = await client.send(session, { method: 'DELETE', attempts: 1 }, `DELETE ${session.pathname}`, [204, 404]).catch(() => null);
    if (del) discardBody(del.body);
  }
  return false;
}

function uploadLocation(headers: IncomingHttpHeaders, base: URL): URL {
  const loc = header(headers, 'location');
  if (!loc) throw new SmrError('REGISTRY_ERROR', `registry ${base.host} started an upload without a Location`);
  return new URL(loc, base);
}

async function refused(client: RegistryClient, res: { status: number; body: import('node:http').IncomingMessage }, what: string): Promise<SmrError> {
  const detail = await errorDetail(res as Parameters<typeof errorDetail>[0]);
  return new SmrError('REGISTRY_ERROR', `${client.target}: cannot ${what}: the registry answered ${res.status}${detail}`);
}
