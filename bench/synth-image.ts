// A large synthetic OCI image for bench/build, the same bytes on every run:
// one gzip layer holding FILES small files spread over DIRS directories plus
// BIG_FILES files of BIG_SIZE bytes. Names, sizes and contents come from a
// seeded generator, every mtime is fixed and gzip runs with -n, so the layer
// digest never changes and the image can be cached.
//
// Usage: node dist/bench/synth-image.js OUTDIR   (writes an OCI layout there)
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';

const DIRS = 1_500;
const FILES = 150_000;
const BIG_FILES = 4;
const BIG_SIZE = 256 << 20;
/** Small files are 0..2*MEAN bytes; 150,000 of them make about 1.3 GB. */
const MEAN_SIZE = 8_700;
const MTIME = 1_700_000_000;
const SEED = 0x5eed_1234;

/** xorshift32: small, fast, and the same everywhere. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const next = rng(SEED);

// Content is cut from a pool of text-like bytes (64 symbols, so gzip gets
// about 3:4, as with real files) at seeded offsets; the pool is larger than
// gzip's 32 KiB window, so slices do not compress against each other.
const POOL_SIZE = 4 << 20;
const ALPHABET = Buffer.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n');
const pool = Buffer.allocUnsafe(POOL_SIZE);
for (let i = 0; i < POOL_SIZE; i++) pool[i] = ALPHABET[next() & 63]!;

function octal(buf: Buffer, at: number, width: number, value: number): void {
  buf.write(value.toString(8).padStart(width - 1, '0') + '\0', at, width, 'latin1');
}

function header(name: string, size: number, type: '0' | '5', mode: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'latin1');
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  // 12-byte size field: 11 octal digits hold up to 8 GiB.
  octal(h, 124, 12, size);
  octal(h, 136, 12, MTIME);
  h.write('        ', 148, 8, 'latin1');
  h.write(type, 156, 1, 'latin1');
  h.write('ustar\x0000', 257, 8, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

/** The tar stream, as chunks. */
function* tarChunks(): Generator<Buffer> {
  const perDir = FILES / DIRS;
  yield header('srv/', 0, '5', 0o755);
  for (let d = 0; d < DIRS; d++) {
    const dir = `srv/d${String(d).padStart(4, '0')}/`;
    yield header(dir, 0, '5', 0o755);
    for (let f = 0; f < perDir; f++) {
      const size = next() % (2 * MEAN_SIZE);
      yield header(`${dir}f${String(d * perDir + f).padStart(6, '0')}.txt`, size, '0', 0o644);
      yield* content(size);
    }
  }
  yield header('big/', 0, '5', 0o755);
  for (let b = 0; b < BIG_FILES; b++) {
    yield header(`big/blob${b}.bin`, BIG_SIZE, '0', 0o644);
    yield* content(BIG_SIZE);
  }
  yield Buffer.alloc(1024);
}

function* content(size: number): Generator<Buffer> {
  for (let left = size; left > 0; ) {
    const at = next() % (POOL_SIZE >> 1);
    const n = Math.min(left, POOL_SIZE >> 1);
    yield pool.subarray(at, at + n);
    left -= n;
  }
  if (size % 512 !== 0) yield Buffer.alloc(512 - (size % 512));
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

function writeBlob(dir: string, json: unknown): { digest: string; size: number } {
  const body = Buffer.from(JSON.stringify(json));
  const hex = createHash('sha256').update(body).digest('hex');
  writeFileSync(join(dir, 'blobs', 'sha256', hex), body);
  return { digest: `sha256:${hex}`, size: body.length };
}

async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) throw new Error('usage: synth-image OUTDIR');
  const blobs = join(out, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const tmp = join(blobs, 'layer.tmp');
  const gzip = spawn('gzip', ['-n', '-1'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const written = gzip.stdout.pipe(createWriteStream(tmp));
  const diffId = createHash('sha256');
  for (const chunk of tarChunks()) {
    diffId.update(chunk);
    if (!gzip.stdin.write(chunk)) await once(gzip.stdin, 'drain');
  }
  gzip.stdin.end();
  await once(written, 'finish');
  const layerHex = await sha256File(tmp);
  renameSync(tmp, join(blobs, layerHex));
  const layerSize = statSync(join(blobs, layerHex)).size;

  const config = writeBlob(out, {
    architecture: 'amd64',
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: [`sha256:${diffId.digest('hex')}`] },
  });
  const manifest = writeBlob(out, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${layerHex}`, size: layerSize }],
  });
  writeFileSync(join(out, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(out, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }),
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`synth-image: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
