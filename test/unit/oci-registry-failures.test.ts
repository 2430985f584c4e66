// The registry client against a misbehaving registry: a local HTTP server
// speaking enough of the distribution API to serve one small image, told
// to fail in the ways real registries and networks do (5xx, 429, dropped
// connections mid-blob, Range ignored, wrong bytes, a 401 challenge, a
// redirect to another host).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { openImage } from '../../src/oci/index.js';
import { SmrError } from '../../src/util/errors.js';
import { freePort, streamDigest } from '../helpers/registry.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

// One image: a 600 KiB gzip layer (random, so it does not shrink), its config, its manifest.
const tarLike = randomBytes(600 << 10);
const layer = gzipSync(tarLike, { level: 0 });
const config = Buffer.from(
  JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(tarLike)] } }),
);
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length }],
  }),
);
const blobs = new Map([
  [sha(layer), layer],
  [sha(config), config],
]);

type Hook = (req: IncomingMessage, res: ServerResponse, n: number) => boolean;

interface Fake {
  host: string;
  /** Requests seen, "METHOD path" plus the headers we check. */
  log: Array<{ path: string; range?: string; authorization?: string }>;
  /** Called before the normal answer; return true when it answered. */
  hook: Hook;
  /** Requests per path, for hooks that fail the first N. */
  counts: Map<string, number>;
  server: Server;
}

/** Sets how the fake misbehaves from now on, and forgets earlier requests. */
function behave(fake: Fake, hook: Hook): void {
  fake.hook = hook;
  fake.log = [];
  fake.counts.clear();
}

/** Serves the image under /v2/test/img; blobs honour a simple Range. */
async function fakeRegistry(address = '127.0.0.1'): Promise<Fake> {
  const fake: Fake = { host: '', log: [], hook: () => false, counts: new Map(), server: undefined as unknown as Server };
  fake.server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const entry: Fake['log'][number] = { path };
    if (req.headers.range) entry.range = req.headers.range;
    if (req.headers.authorization) entry.authorization = req.headers.authorization;
    fake.log.push(entry);
    const n = (fake.counts.get(path) ?? 0) + 1;
    fake.counts.set(path, n);
    if (fake.hook(req, res, n)) return;
    if (path === '/v2/') return void res.writeHead(200).end('{}');
    if (path === '/v2/test/img/manifests/latest' || path === `/v2/test/img/manifests/${sha(manifest)}`) {
      return void res
        .writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': sha(manifest) })
        .end(manifest);
    }
    const blob = blobs.get(path.replace('/v2/test/img/blobs/', ''));
    if (blob) return void sendBlob(req, res, blob);
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND","message":"nothing here"}]}');
  });
  const port = await freePort();
  await new Promise<void>((r) => fake.server.listen(port, address, r));
  fake.host = `${address}:${port}`;
  return fake;
}

function sendBlob(req: IncomingMessage, res: ServerResponse, blob: Buffer): void {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (m) {
    const start = Number(m[1]);
    res.writeHead(206, { 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}`, 'content-length': blob.length - start });
    res.end(blob.subarray(start));
  } else {
    res.writeHead(200, { 'content-length': blob.length }).end(blob);
  }
}

/** Sends headers for the whole blob, some bytes, then cuts the connection. */
function dropMidway(res: ServerResponse, blob: Buffer): void {
  res.writeHead(200, { 'content-length': blob.length });
  res.write(blob.subarray(0, blob.length >> 1), () => setTimeout(() => res.socket?.destroy(), 20));
}

const LAYER_PATH = `/v2/test/img/blobs/${sha(layer)}`;

describe('registry client against a misbehaving registry', () => {
  let fake: Fake;
  let cdn: Fake;
  let work: string;
  let cacheDir: string;

  before(async () => {
    fake = await fakeRegistry();
    cdn = await fakeRegistry();
    work = await mkdtemp(join(tmpdir(), 'smr-fail-'));
  });
  after(async () => {
    fake.server.close();
    cdn.server.close();
    fake.server.closeAllConnections();
    cdn.server.closeAllConnections();
    await rm(work, { recursive: true, force: true });
  });

  async function freshOpen(ref = `${fake.host}/test/img`) {
    cacheDir = await mkdtemp(join(work, 'cache-'));
    const img = await openImage(ref, { cacheDir });
    try {
      assert.equal(await streamDigest(await img.openLayer(0)), sha(layer));
      assert.equal(img.layers[0]?.diffId, sha(tarLike));
    } finally {
      await img.close();
    }
    return img;
  }

  async function noTempFiles(): Promise<void> {
    const names = await readdir(join(cacheDir, 'blobs', 'sha256')).catch(() => []);
    assert.deepEqual(names.filter((n) => n.startsWith('.tmp')), []);
  }

  it('serves the image when nothing goes wrong', async () => {
    behave(fake, () => false);
    const img = await freshOpen();
    assert.equal(img.manifestDigest, sha(manifest));
  });

  it('retries 503 / 429 on the manifest and 500 on a blob, then succeeds', async () => {
    behave(fake, (req, res, n) => {
      const path = req.url ?? '';
      if (path.endsWith('/manifests/latest') && n === 1) return void res.writeHead(503).end(), true;
      if (path.endsWith('/manifests/latest') && n === 2) return void res.writeHead(429, { 'retry-after': '0' }).end(), true;
      if (path === LAYER_PATH && n === 1) return void res.writeHead(500).end('boom'), true;
      return false;
    });
    await freshOpen();
    assert.equal(fake.log.filter((l) => l.path === LAYER_PATH).length, 2);
    assert.equal(fake.log.filter((l) => l.path.endsWith('/manifests/latest')).length, 3);
  });

  it('gives up on a blob that always answers 500, with one clear line', async () => {
    behave(fake, (req, res) => (req.url === LAYER_PATH ? (res.writeHead(500).end(), true) : false));
    cacheDir = await mkdtemp(join(work, 'cache-'));
    await assert.rejects(openImage(`${fake.host}/test/img`, { cacheDir }), (e: unknown) => {
      assert.ok(e instanceof SmrError);
      assert.equal(e.code, 'REGISTRY_ERROR');
      assert.match(e.message, new RegExp(`^registry ${fake.host} answered 500 for GET /v2/test/img/blobs/sha256:[0-9a-f]{12}… after 4 attempts$`));
      return true;
    });
    await noTempFiles();
  });

  it('resumes a blob with Range after the connection drops mid-way', async () => {
    behave(fake, (req, res, n) => (req.url === LAYER_PATH && n === 1 ? (dropMidway(res, layer), true) : false));
    await freshOpen();
    const gets = fake.log.filter((l) => l.path === LAYER_PATH);
    assert.equal(gets.length, 2);
    assert.match(gets[1]?.range ?? '', /^bytes=[1-9]\d*-$/);
  });

  it('starts over when the server ignores Range after a drop', async () => {
    behave(fake, (req, res, n) => {
      if (req.url !== LAYER_PATH) return false;
      if (n === 1) dropMidway(res, layer);
      else res.writeHead(200, { 'content-length': layer.length }).end(layer); // Range ignored
      return true;
    });
    await freshOpen();
  });

  it('fails clearly when every attempt drops the connection', async () => {
    behave(fake, (req, res) => (req.url === LAYER_PATH ? (dropMidway(res, layer), true) : false));
    cacheDir = await mkdtemp(join(work, 'cache-'));
    await assert.rejects(
      openImage(`${fake.host}/test/img`, { cacheDir }),
      (e: unknown) => e instanceof SmrError && e.code === 'REGISTRY_ERROR' && /failed after 4 attempts at byte \d+ of \d+/.test(e.message),
    );
    await noTempFiles();
  });

  it('refuses a blob with the wrong bytes (DIGEST_MISMATCH) and caches nothing', async () => {
    const bad = Buffer.from(layer);
    bad[1000] = (bad[1000] as number) ^ 0xff;
    behave(fake, (req, res) => (req.url === LAYER_PATH ? (res.writeHead(200, { 'content-length': bad.length }).end(bad), true) : false));
    cacheDir = await mkdtemp(join(work, 'cache-'));
    await assert.rejects(openImage(`${fake.host}/test/img`, { cacheDir }), (e: unknown) => {
      return e instanceof SmrError && e.code === 'DIGEST_MISMATCH' && e.message.startsWith('layer 0 (') && e.message.includes(sha(layer));
    });
    const names = await readdir(join(cacheDir, 'blobs', 'sha256'));
    assert.ok(!names.includes(sha(layer).slice(7)), 'bad blob not cached');
    await noTempFiles();
  });

  it('refuses a manifest whose bytes do not match the digest asked for', async () => {
    const other = `sha256:${'a'.repeat(64)}`;
    behave(fake, (req, res) =>
      req.url?.endsWith(`/manifests/${other}`)
        ? (res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(manifest), true)
        : false);
    cacheDir = await mkdtemp(join(work, 'cache-'));
    await assert.rejects(openImage(`${fake.host}/test/img@${other}`, { cacheDir }), { code: 'DIGEST_MISMATCH' });
  });

  it('answers a Bearer challenge, retries once, and drops the token on a redirect to another host', async () => {
    const token = 'tok-123';
    behave(fake, (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/token') {
        assert.equal(url.searchParams.get('scope'), 'repository:test/img:pull');
        assert.equal(url.searchParams.get('service'), 'fake');
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token })), true;
      }
      if (url.pathname.startsWith('/v2/test/') && req.headers.authorization !== `Bearer ${token}`) {
        const challenge = `Bearer realm="http://${fake.host}/token",service="fake",scope="repository:test/img:pull",error="invalid_token"`;
        return void res.writeHead(401, { 'www-authenticate': challenge }).end(), true;
      }
      if (url.pathname === LAYER_PATH) {
        return void res.writeHead(307, { location: `http://${cdn.host}${LAYER_PATH}?signed=1` }).end(), true;
      }
      return false;
    });
    cdn.log = [];
    cdn.hook = () => false;
    await freshOpen();
    const manifestGets = fake.log.filter((l) => l.path.endsWith('/manifests/latest'));
    assert.equal(manifestGets.length, 2, 'one 401, one retry');
    assert.equal(manifestGets[1]?.authorization, `Bearer ${token}`);
    assert.equal(fake.log.filter((l) => l.path === '/token').length, 1, 'token cached for the scope');
    const cdnGets = cdn.log.filter((l) => l.path === LAYER_PATH);
    assert.equal(cdnGets.length, 1);
    assert.equal(cdnGets[0]?.authorization, undefined, 'no Authorization sent to the other host');
  });

  it('two opens at once into one cache both succeed (atomic rename)', async () => {
    behave(fake, () => false);
    cacheDir = await mkdtemp(join(work, 'cache-'));
    const [a, b] = await Promise.all([openImage(`${fake.host}/test/img`, { cacheDir }), openImage(`${fake.host}/test/img`, { cacheDir })]);
    assert.equal(await streamDigest(await a.openLayer(0)), sha(layer));
    assert.equal(await streamDigest(await b.openLayer(0)), sha(layer));
    await Promise.all([a.close(), b.close()]);
    await noTempFiles();
  });

  const outside = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  it('plain HTTP only for loopback or when insecure', { skip: outside ? false : 'no non-loopback IPv4 address' }, async () => {
    const remote = await fakeRegistry(outside);
    try {
      cacheDir = await mkdtemp(join(work, 'cache-'));
      await assert.rejects(openImage(`${remote.host}/test/img`, { cacheDir }), (e: unknown) => {
        return e instanceof SmrError && e.code === 'CONNECTION_FAILED' && e.message.includes('TLS') && e.message.includes('insecure');
      });
      assert.equal(remote.log.length, 0, 'nothing sent in clear');
      const img = await openImage(`${remote.host}/test/img`, { cacheDir, insecure: true });
      assert.equal(await streamDigest(await img.openLayer(0)), sha(layer));
      await img.close();
    } finally {
      remote.server.close();
      remote.server.closeAllConnections();
    }
  });

  it('reports a refused connection in one line', async () => {
    const port = await freePort();
    cacheDir = await mkdtemp(join(work, 'cache-'));
    await assert.rejects(openImage(`127.0.0.1:${port}/test/img`, { cacheDir }), (e: unknown) => {
      return e instanceof SmrError && e.code === 'CONNECTION_FAILED' && e.message.includes('connection refused') && !e.message.includes('\n');
    });
  });
});
