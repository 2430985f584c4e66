// A client for one repository of a registry speaking the OCI distribution
// API (GET /v2/, manifests, blobs). It owns the policies the plain HTTP layer
// does not: scheme choice, authentication, retries with backoff, redirects,
// and resuming a blob download where a dropped connection left it.
import { SmrError } from '../util/errors.js';
import { backoffDelay, sleep } from '../util/retry.js';
import { digestOf, parseDigest, shortDigest, verifyBytes } from '../util/digest.js';
import { HttpAgents, discardBody, httpRequest, readBody, type HttpResponse } from '../util/http.js';
import { describeNetworkError, isCertificateError, isTransientNetworkError } from '../util/network-errors.js';
import { RegistryAuth } from './auth.js';
import type { PendingBlob } from './blob-cache.js';
import { MAX_METADATA_BYTES } from './blob-file.js';
import { findCredentials } from './docker-config.js';
import { MANIFEST_ACCEPT, isForeignLayer } from './media-types.js';
import type { RegistryReference } from './reference.js';
import type { Descriptor } from './types.js';

export interface RegistryClientOptions {
  insecure?: boolean;
  authFile?: string;
  /** Tries per request, counting the first (default 4). */
  attempts?: number;
  /** First backoff delay; doubles each retry (default 250 ms). */
  backoffMs?: number;
  /** Socket idle timeout (default 60 s). */
  timeoutMs?: number;
  /** Ask for push as well as pull (a registry store that writes). */
  push?: boolean;
}

export interface FetchedManifest {
  bytes: Buffer;
  digest: string;
  mediaType?: string;
}

export interface SendOptions {
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
  headers?: Record<string, string>;
  body?: Buffer;
  /** Authenticate with the client's scope (false for the token realm). */
  auth?: boolean;
  /** A token scope other than the client's (a cross-repository mount also needs the source's pull). */
  scope?: string;
  /** Tries for this request (default: the client's). */
  attempts?: number;
  signal?: AbortSignal;
}

const RETRY_STATUS = (s: number) => s >= 500 || s === 429 || s === 408;
const MAX_REDIRECTS = 5;

function isLoopback(host: string): boolean {
  const h = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}


/** Registry error bodies: {"errors":[{"code":"MANIFEST_UNKNOWN","message":"…"}]}. */
export async function errorDetail(res: HttpResponse): Promise<string> {
  try {
    const body = JSON.parse((await readBody(res.body, 64 << 10)).toString('utf8')) as {
      errors?: Array<{ code?: string; message?: string }>;
    };
    const e = body.errors?.[0];
    return e ? `: ${[e.code, e.message].filter(Boolean).join(' ')}` : '';
  } catch {
    return '';
  }
}

export class RegistryClient {
  readonly ref: RegistryReference;
  /** "127.0.0.1:5000/fixtures/static" — how messages name the repository. */
  readonly target: string;
  private readonly opts: Required<Omit<RegistryClientOptions, 'authFile' | 'push'>>;
  private readonly agents = new HttpAgents();
  private readonly auth: RegistryAuth;
  readonly scope: string;
  private base: Promise<URL> | undefined;
  private tlsInsecure = false;

  constructor(ref: RegistryReference, opts: RegistryClientOptions = {}) {
    this.ref = ref;
    this.target = `${ref.domain}/${ref.repository}`;
    this.opts = {
      insecure: opts.insecure ?? false,
      attempts: Math.max(1, opts.attempts ?? 4),
      backoffMs: opts.backoffMs ?? 250,
      timeoutMs: opts.timeoutMs ?? 60_000,
    };
    this.scope = `repository:${ref.repository}:${opts.push ? 'pull,push' : 'pull'}`;
    const lookup = findCredentials(ref.domain, ref.repository, opts.authFile);
    this.auth = new RegistryAuth(this.target, lookup, (url, headers) => this.getSmall(url, headers));
  }

  close(): void {
    this.agents.destroy();
  }

  /** GET /v2/ once: picks https or (for loopback / --insecure) http, and learns the auth challenge. */
  private baseUrl(): Promise<URL> {
    this.base ??= this.probe();
    return this.base;
  }

  private async probe(): Promise<URL> {
    const host = this.ref.apiHost;
    const plainAllowed = this.opts.insecure || isLoopback(host);
    const https = new URL(`https://${host}/`);
    if (plainAllowed) {
      // One quick HTTPS try; any non-HTTP failure (refused, TLS garbage) means plain HTTP.
      this.tlsInsecure = this.opts.insecure;
      try {
        const res = await httpRequest(new URL('/v2/', https), this.requestOptions({}, 10_000));
        await this.learnFromPing(res, https);
        return https;
      } catch (err) {
        if (err instanceof SmrError) throw err;
        // It speaks TLS with a certificate we do not trust: plain HTTP would not help.
        if (isCertificateError(err)) throw this.tlsFailure(host, err);
      }
      const http = new URL(`http://${host}/`);
      const res = await this.send(new URL('/v2/', http), { auth: false }, 'GET /v2/', [200, 401, 404]);
      await this.learnFromPing(res, http);
      return http;
    }
    const res = await this.send(new URL('/v2/', https), { auth: false }, 'GET /v2/', [200, 401, 404]);
    await this.learnFromPing(res, https);
    return https;
  }

  private tlsFailure(host: string, err: unknown): SmrError {
    return new SmrError(
      'CONNECTION_FAILED',
      `cannot reach registry ${host}: ${describeNetworkError(err)} (trust its CA with NODE_EXTRA_CA_CERTS, or allow an insecure registry)`,
      { cause: err },
    );
  }

  private async learnFromPing(res: HttpResponse, base: URL): Promise<void> {
    discardBody(res.body);
    if (res.status === 401) this.auth.learn(res.headers['www-authenticate']);
    else if (res.status === 404) {
      throw new SmrError('NOT_A_REGISTRY', `${base.host} does not serve the registry API (GET ${base.protocol}//${base.host}/v2/ answered 404)`);
    } else if (res.status !== 200) {
      throw new SmrError('REGISTRY_ERROR', `registry ${base.host} answered ${res.status} for GET /v2/`);
    }
  }

  private requestOptions(headers: Record<string, string>, timeoutMs = this.opts.timeoutMs) {
    return { headers, agents: this.agents, timeoutMs, tlsInsecure: this.tlsInsecure };
  }

  /**
   * One logical request: retries network failures, 5xx and 429 with
   * backoff; answers one 401 by authenticating; follows redirects (without
   * our Authorization on another host). Returns the first response whose
   * status is in `accept` (other statuses are the caller's to map, body unread).
   */
  async send(url: URL, so: SendOptions, what: string, accept: number[]): Promise<HttpResponse> {
    const attempts = so.attempts ?? this.opts.attempts;
    const scope = so.scope ?? this.scope;
    let authRetried = false;
    let lastProblem = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await sleep(backoffDelay(this.opts, attempt - 1));
      const headers: Record<string, string> = { ...so.headers };
      const authorization = so.auth === false ? undefined : await this.auth.authorization(scope);
      if (authorization) headers.authorization = authorization;
      let res: HttpResponse;
      try {
        res = await this.follow(url, so.method ?? 'GET', headers, so.body, so.signal);
      } catch (err) {
        if (err instanceof SmrError || so.signal?.aborted) throw err;
        if (isCertificateError(err)) throw this.tlsFailure(url.host, err);
        lastProblem = describeNetworkError(err);
        if (isTransientNetworkError(err)) continue;
        const hint = url.protocol === 'https:' && lastProblem.startsWith('TLS') ? '; if it serves plain HTTP, allow it as an insecure registry' : '';
        throw new SmrError('CONNECTION_FAILED', `cannot reach registry ${url.host}: ${lastProblem} (${what})${hint}`, { cause: err });
      }
      if (res.status === 401 && so.auth !== false) {
        discardBody(res.body);
        if (!authRetried && (await this.auth.retryAfter401(res.headers['www-authenticate'], scope, authorization))) {
          authRetried = true;
          attempt--; // answering a challenge is not a failed attempt
          continue;
        }
        throw this.auth.failure(401);
      }
      if (res.status === 403 && so.auth !== false) {
        discardBody(res.body);
        throw this.auth.failure(403);
      }
      if (accept.includes(res.status)) return res;
      if (RETRY_STATUS(res.status)) {
        discardBody(res.body);
        lastProblem = `answered ${res.status}`;
        const retryAfter = Number(res.headers['retry-after']);
        if (Number.isFinite(retryAfter) && retryAfter > 0 && attempt < attempts) await sleep(Math.min(retryAfter, 10) * 1000);
        continue;
      }
      return res;
    }
    if (lastProblem.startsWith('answered')) {
      throw new SmrError('REGISTRY_ERROR', `registry ${url.host} ${lastProblem} for ${what} after ${attempts} attempts`);
    }
    throw new SmrError('CONNECTION_FAILED', `cannot reach registry ${url.host}: ${lastProblem} (${what}, ${attempts} attempts)`);
  }

  private async follow(start: URL, method: string, headers: Record<string, string>, body?: Buffer, signal?: AbortSignal): Promise<HttpResponse> {
    let url = start;
    for (let hop = 0; ; hop++) {
      const res = await httpRequest(url, { method, ...this.requestOptions(headers), ...(body ? { body } : {}), ...(signal ? { signal } : {}) });
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
      discardBody(res.body);
      if (hop >= MAX_REDIRECTS) throw new SmrError('REGISTRY_ERROR', `too many redirects from ${start.host} for ${start.pathname}`);
      const next = new URL(location, url);
      if (next.origin !== url.origin) {
        // Our credentials are for the registry, never for a CDN or bucket it points to.
        const { authorization: _dropped, ...rest } = headers;
        headers = rest;
      }
      url = next;
    }
  }

  /** GET of a small document outside the registry's auth (the token realm). */
  private async getSmall(url: URL, headers: Record<string, string>): Promise<{ status: number; body: Buffer }> {
    const res = await this.send(url, { headers, auth: false }, `GET ${url.origin}${url.pathname}`, [200]);
    return { status: res.status, body: await readBody(res.body, 1 << 20) };
  }

  /** A URL of this repository's API: v2('blobs/uploads/') → /v2/<repo>/blobs/uploads/. */
  async v2(path: string): Promise<URL> {
    return new URL(`/v2/${this.ref.repository}/${path}`, await this.baseUrl());
  }

  /** A manifest or index by tag or digest, digest-checked. */
  async getManifest(reference: string, expected?: Descriptor): Promise<FetchedManifest> {
    const url = await this.v2(`manifests/${reference}`);
    const what = `GET ${url.pathname}`;
    const res = await this.send(url, { headers: { accept: MANIFEST_ACCEPT } }, what, [200]);
    const byDigest = reference.includes(':');
    const name = `${this.target}${byDigest ? '@' : ':'}${reference}`;
    if (res.status === 404) {
      throw new SmrError('MANIFEST_NOT_FOUND', `manifest not found: ${name}${await errorDetail(res)}`);
    }
    if (res.status !== 200) {
      throw new SmrError('REGISTRY_ERROR', `registry ${url.host} answered ${res.status} for ${what}${await errorDetail(res)}`);
    }
    let bytes: Buffer;
    try {
      bytes = await readBody(res.body, MAX_METADATA_BYTES);
    } catch (err) {
      throw new SmrError('REGISTRY_ERROR', `reading manifest ${name} failed: ${describeNetworkError(err)}`, { cause: err });
    }
    const mediaType = res.headers['content-type']?.split(';')[0]?.trim();
    let digest: string;
    if (byDigest) {
      verifyBytes(bytes, reference, `manifest ${name}`, expected?.size);
      digest = reference;
    } else {
      digest = digestOf(bytes);
      const claimed = res.headers['docker-content-digest'];
      if (typeof claimed === 'string' && claimed.startsWith('sha256:') && claimed !== digest) {
        throw new SmrError('DIGEST_MISMATCH', `manifest ${name}: registry says ${claimed}, content has ${digest}`);
      }
    }
    return mediaType ? { bytes, digest, mediaType } : { bytes, digest };
  }

  /**
   * Downloads a blob into `pending`, resuming with Range after a dropped
   * connection, and checks size and digest before returning.
   */
  async downloadBlob(
    desc: Descriptor,
    pending: PendingBlob,
    /** Names the blob in errors, e.g. "layer 2 (sha256:…) of 127.0.0.1:5000/x". */
    name = `blob ${desc.digest} of ${this.target}`,
    onBytes?: (n: number) => void,
  ): Promise<void> {
    parseDigest(desc.digest, name);
    const url = await this.v2(`blobs/${desc.digest}`);
    const what = `GET ${url.pathname.replace(/[0-9a-f]{52}$/, '…')}`;
    const { attempts } = this.opts;
    for (let attempt = 1; ; attempt++) {
      const headers: Record<string, string> = {};
      if (pending.bytes > 0) headers.range = `bytes=${pending.bytes}-`;
      const res = await this.send(url, { headers }, what, [200, 206]);
      if (res.status === 404) {
        const foreign = isForeignLayer(desc.mediaType) ? ' (a foreign layer, which the registry need not hold)' : '';
        throw new SmrError('BLOB_NOT_FOUND', `blob not found: ${this.target}@${desc.digest}${foreign}${await errorDetail(res)}`);
      }
      if (res.status !== 200 && res.status !== 206) {
        throw new SmrError('REGISTRY_ERROR', `registry ${url.host} answered ${res.status} for ${what}${await errorDetail(res)}`);
      }
      if (res.status === 206) {
        const resumedAt = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
        if (!resumedAt || Number(resumedAt[1]) !== pending.bytes) {
          discardBody(res.body); // not the range asked for: start over without Range
          if (attempt >= attempts) {
            throw new SmrError('REGISTRY_ERROR', `registry ${url.host} sent range "${res.headers['content-range'] ?? ''}" for ${what}, not the one asked for`);
          }
          onBytes?.(-pending.bytes);
          await pending.reset();
          continue;
        }
      } else if (pending.bytes > 0) {
        onBytes?.(-pending.bytes);
        await pending.reset(); // Range ignored: the whole blob comes again
      }
      try {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          if (pending.bytes + chunk.length > desc.size) {
            res.body.destroy();
            throw new SmrError('DIGEST_MISMATCH', `${name}: more than the ${desc.size} bytes its descriptor gives (digest ${desc.digest})`);
          }
          await pending.write(chunk);
          onBytes?.(chunk.length);
        }
        if (!res.body.complete) throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
      } catch (err) {
        if (err instanceof SmrError) throw err;
        if (!isTransientNetworkError(err) || attempt >= attempts) {
          throw new SmrError(
            'REGISTRY_ERROR',
            `download of ${name.replace(desc.digest, shortDigest(desc.digest))} failed after ${attempt} attempts at byte ${pending.bytes} of ${desc.size}: ${describeNetworkError(err)}`,
            { cause: err },
          );
        }
        await sleep(backoffDelay(this.opts, attempt));
        continue;
      }
      if (pending.bytes < desc.size && attempt < attempts) continue; // closed early but cleanly: resume
      break;
    }
    if (pending.bytes !== desc.size) {
      throw new SmrError('DIGEST_MISMATCH', `${name}: short read, ${pending.bytes} of ${desc.size} bytes (digest ${desc.digest})`);
    }
    const actual = pending.digest();
    if (actual !== desc.digest) {
      throw new SmrError('DIGEST_MISMATCH', `${name}: content has digest ${actual}, expected ${desc.digest}`);
    }
  }
}
