// A `docker save` / `skopeo copy … docker-archive:` tarball: manifest.json
// lists, per image, a config file and layer files (`<id>/layer.tar`, often
// symlinks, or `blobs/sha256/<hex>`). There is no manifest digest, so we
// write a deterministic OCI manifest for the picked image and use its digest.
// A plain archive is read in place (layers are regions of the file); a
// gzip/zstd one is unpacked once into the blob cache, members by digest.
import { createReadStream, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { posix, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { SmrError } from '../util/errors.js';
import { createDigester, digestOf, verifyBytes } from '../util/digest.js';
import { ArchiveMemoStore, type ArchiveMemo, type MemoMember } from './archive-memo.js';
import { FileByteSource, StreamByteSource, walkArchive } from './archive-tar.js';
import type { BlobCache } from './blob-cache.js';
import { MAX_METADATA_BYTES, openVerifiedFile } from './blob-file.js';
import { decompressChunks, sniffCompression } from '../tar/index.js';
import { OCI_CONFIG, OCI_MANIFEST, layerMediaType } from './media-types.js';
import { parseJson } from './manifest.js';
import { ProgressCounter } from './progress.js';
import { normalizeNamedTag, type DockerArchiveReference } from './reference.js';
import type { ImageSource, RootDocument } from './resolve.js';
import type { Descriptor, OpenImageOptions } from './types.js';

interface ArchiveImage {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** Members we keep in memory while unpacking a compressed archive (JSON files, tiny layers). */
const SMALL_MEMBER = 1 << 20;

type Entry = MemoMember & { name: string; offset?: number; data?: Buffer };

/** Follows symlinks and hard links inside the archive to a regular member. */
function resolveMember(members: Map<string, Entry>, name: string, label: string): Entry {
  let current = posix.normalize(name).replace(/^(\.\/|\/)+/, '');
  for (let hops = 0; hops < 16; hops++) {
    const m = members.get(current);
    if (!m) throw new SmrError('INVALID_ARCHIVE', `${label} names ${name}, which is not in the archive`);
    if (m.type === 'file') return m;
    if (m.type === 'symlink') current = posix.normalize(posix.join(posix.dirname(current), m.linkname));
    else if (m.type === 'hardlink') current = posix.normalize(m.linkname);
    else throw new SmrError('INVALID_ARCHIVE', `${label}: ${name} is not a regular file in the archive`);
    current = current.replace(/^(\.\/|\/)+/, '');
  }
  throw new SmrError('INVALID_ARCHIVE', `${label}: too many links resolving ${name}`);
}

function pickImage(images: ArchiveImage[], ref: DockerArchiveReference, label: string): ArchiveImage {
  const tags = (img: ArchiveImage) => (Array.isArray(img.RepoTags) ? img.RepoTags : []);
  const listing = () =>
    images.map((img, i) => `@${i}${tags(img).length ? ` (${tags(img).join(', ')})` : ''}`).join('; ');
  if (ref.index !== undefined) {
    const img = images[ref.index];
    if (!img) throw new SmrError('IMAGE_NOT_FOUND', `${label} has ${images.length} image(s), no @${ref.index}: ${listing()}`);
    return img;
  }
  if (ref.name !== undefined) {
    const want = normalizeNamedTag(ref.name);
    const found = images.find((img) => tags(img).some((t) => t === ref.name || normalizeNamedTag(t) === want));
    if (!found) throw new SmrError('IMAGE_NOT_FOUND', `no image "${ref.name}" in ${label} (available: ${listing()})`);
    return found;
  }
  if (images.length !== 1) {
    throw new SmrError('AMBIGUOUS_IMAGE', `${label} holds ${images.length} images; pick one with :NAME:TAG or :@N (${listing()})`);
  }
  return images[0] as ArchiveImage;
}

function parseArchiveManifest(bytes: Buffer | string, label: string): ArchiveImage[] {
  const doc = parseJson(bytes, `manifest.json of ${label}`);
  const ok =
    Array.isArray(doc) &&
    doc.every(
      (d: unknown) =>
        typeof d === 'object' &&
        d !== null &&
        typeof (d as ArchiveImage).Config === 'string' &&
        Array.isArray((d as ArchiveImage).Layers) &&
        (d as ArchiveImage).Layers.every((l) => typeof l === 'string'),
    );
  if (!ok) throw new SmrError('INVALID_ARCHIVE', `manifest.json of ${label} is not a list of {Config, RepoTags, Layers}`);
  if (doc.length === 0) throw new SmrError('INVALID_ARCHIVE', `${label} holds no images`);
  return doc as ArchiveImage[];
}

/** Passes chunks on, counting them (progress over a compressed file). */
async function* counted(src: AsyncIterable<Buffer>, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of src) {
    onBytes(chunk.length);
    yield chunk;
  }
}

/** Media type of a layer from its first bytes (skopeo and docker store them plain or not). */
function sniffLayer(head: Uint8Array, what: string): string {
  const format = sniffCompression(head);
  if (format === 'xz' || format === 'bzip2') {
    throw new SmrError('UNSUPPORTED_MEDIA_TYPE', `${what} is ${format}-compressed; only gzip, zstd and plain tar layers are supported`);
  }
  return layerMediaType(format);
}

interface LayerBlob {
  desc: Descriptor;
  open(label: string): Promise<Readable>;
}

class ArchiveSource implements ImageSource {
  constructor(
    readonly name: string,
    private readonly config: { desc: Descriptor; bytes: Buffer },
    private readonly layers: Map<string, LayerBlob>,
  ) {}

  async readManifest(desc: Descriptor): Promise<Buffer> {
    throw new SmrError('MANIFEST_NOT_FOUND', `${this.name} has no manifest ${desc.digest}`);
  }

  async readConfig(desc: Descriptor, what: string): Promise<Buffer> {
    verifyBytes(this.config.bytes, desc.digest, what, desc.size);
    return this.config.bytes;
  }

  openLayer(desc: Descriptor, label: string) {
    const blob = this.layers.get(desc.digest);
    if (!blob) return Promise.reject(new SmrError('BLOB_NOT_FOUND', `${label} is not in ${this.name}`));
    return blob.open(label);
  }

  async close(): Promise<void> {}
}

/** Reads `length` bytes at `offset` of an open file. */
async function readRegion(handle: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buf, 0, length, offset);
  return buf.subarray(0, bytesRead);
}

async function hashRegion(src: FileByteSource, offset: number, size: number, onBytes: (n: number) => void): Promise<string> {
  const hash = createDigester('sha256');
  src.position = offset;
  for await (const chunk of src.chunks(size)) {
    hash.update(chunk);
    onBytes(chunk.length);
  }
  return `sha256:${hash.digest('hex')}`;
}

interface Opened {
  source: ImageSource;
  root: RootDocument;
}

/** Plain tar: index headers once, hash layer regions (memoised), read in place. */
async function openPlain(path: string, st: Stats, handle: FileHandle, ref: DockerArchiveReference, label: string, cache: BlobCache, opts: OpenImageOptions): Promise<Opened> {
  const members = new Map<string, Entry>();
  const src = new FileByteSource(handle);
  for await (const m of walkArchive(src, label)) members.set(m.name, { ...m });
  const small = async (name: string, what: string): Promise<Buffer> => {
    const m = resolveMember(members, name, what);
    if (m.size > MAX_METADATA_BYTES) throw new SmrError('INVALID_ARCHIVE', `${what}: ${name} is too large`);
    return readRegion(handle, m.offset as number, m.size);
  };
  if (!members.has('manifest.json')) {
    throw new SmrError('INVALID_ARCHIVE', `${label} is not a docker archive (no manifest.json)`);
  }
  const image = pickImage(parseArchiveManifest(await small('manifest.json', label), label), ref, label);
  const configBytes = await small(image.Config, `config of ${label}`);
  const store = new ArchiveMemoStore(cache.dir, path, st);
  const memo = await store.load();
  const entries = image.Layers.map((l, i) => resolveMember(members, l, `layer ${i} of ${label}`));
  const toHash = entries.filter((e) => !memo.regions[`${e.offset}:${e.size}`]);
  const progress = new ProgressCounter(opts.progress, 'hash', toHash.reduce((s, e) => s + e.size, 0), label);
  const layers: Descriptor[] = [];
  const blobs = new Map<string, LayerBlob>();
  for (const e of entries) {
    const key = `${e.offset}:${e.size}`;
    memo.regions[key] ??= await hashRegion(src, e.offset as number, e.size, (n) => progress.add(n));
    const region = { start: e.offset as number, length: e.size };
    const head = await readRegion(handle, region.start, Math.min(10, e.size));
    const desc: Descriptor = { mediaType: sniffLayer(head, `layer ${e.name} of ${label}`), digest: memo.regions[key] as string, size: e.size };
    layers.push(desc);
    blobs.set(desc.digest, { desc, open: (l) => openVerifiedFile(path, desc, l, region) });
  }
  if (toHash.length > 0) {
    progress.finish();
    await store.save(memo);
  }
  return finish(label, configBytes, layers, blobs);
}

interface Unpacked {
  manifestJson: string;
  members: Map<string, Entry>;
}

/** Streams the decompressed archive once: big members into the cache, small ones kept in memory. */
async function unpack(path: string, size: number, label: string, cache: BlobCache, opts: OpenImageOptions): Promise<Unpacked> {
  const members = new Map<string, Entry>();
  const progress = new ProgressCounter(opts.progress, 'extract', size, label);
  const chunks = decompressChunks(counted(createReadStream(path), (n) => progress.add(n)), { what: label });
  const src = new StreamByteSource(chunks);
  try {
    for await (const m of walkArchive(src, label)) {
      const e: Entry = { name: m.name, type: m.type, size: m.size, linkname: m.linkname };
      if (m.type === 'file' && m.size <= SMALL_MEMBER) e.data = await src.read(m.size);
      else if (m.type === 'file') e.digest = (await cache.storeStream(Readable.from(src.chunks(m.size)))).digest;
      members.set(m.name, e);
    }
  } catch (err) {
    await chunks.return(undefined); // closes the file
    if (err instanceof SmrError) throw err;
    throw new SmrError('INVALID_ARCHIVE', `cannot unpack ${label}: ${(err as Error).message}`, { cause: err });
  }
  progress.finish();
  const manifest = members.get('manifest.json');
  if (!manifest?.data) throw new SmrError('INVALID_ARCHIVE', `${label} is not a docker archive (no manifest.json)`);
  return { manifestJson: manifest.data.toString('utf8'), members };
}

function fromMemo(memo: ArchiveMemo): Unpacked | undefined {
  if (!memo.manifestJson || !memo.members) return undefined;
  const members = new Map<string, Entry>();
  for (const [name, m] of Object.entries(memo.members)) members.set(name, { ...m, name });
  return { manifestJson: memo.manifestJson, members };
}

/** gzip/zstd: unpack once into the blob cache; a memo remembers where members went. */
async function openCompressed(path: string, st: Stats, ref: DockerArchiveReference, label: string, cache: BlobCache, opts: OpenImageOptions): Promise<Opened> {
  const store = new ArchiveMemoStore(cache.dir, path, st);
  const neededOf = (u: Unpacked, image: ArchiveImage) =>
    [image.Config, ...image.Layers].map((n, i) => resolveMember(u.members, n, i === 0 ? `config of ${label}` : `layer ${i - 1} of ${label}`));
  const cached = async (e: Entry) => e.data !== undefined || (e.digest !== undefined && (await cache.has({ mediaType: '', digest: e.digest, size: e.size })));

  const usable = async (u: Unpacked | undefined): Promise<boolean> => {
    if (!u) return false;
    try {
      const needed = neededOf(u, pickImage(parseArchiveManifest(u.manifestJson, label), ref, label));
      return (await Promise.all(needed.map(cached))).every(Boolean);
    } catch {
      return false; // let a fresh unpack report what is wrong
    }
  };
  let unpacked = fromMemo(await store.load());
  if (!(await usable(unpacked)) || !unpacked) {
    unpacked = await unpack(path, st.size, label, cache, opts); // no memo, or its blobs were pruned
    // Small members any image needs go to the cache too, so the memo can name them.
    for (const img of parseArchiveManifest(unpacked.manifestJson, label)) {
      for (const e of neededOf(unpacked, img)) {
        if (e.data && !e.digest) e.digest = (await cache.storeStream(Readable.from([e.data]))).digest;
      }
    }
  }
  const image = pickImage(parseArchiveManifest(unpacked.manifestJson, label), ref, label);
  const [configEntry, ...layerEntries] = neededOf(unpacked, image) as [Entry, ...Entry[]];
  const configBytes =
    configEntry.data ?? (await cache.read({ mediaType: '', digest: configEntry.digest as string, size: configEntry.size }, `config of ${label}`));
  const layers: Descriptor[] = [];
  const blobs = new Map<string, LayerBlob>();
  for (const e of layerEntries) {
    const digest = e.digest as string;
    const head = e.data ?? (await readRegionOf(cache.blobPath(digest), 10));
    const desc: Descriptor = { mediaType: sniffLayer(head, `layer ${e.name} of ${label}`), digest, size: e.size };
    layers.push(desc);
    blobs.set(digest, { desc, open: (l) => cache.open(desc, l) });
  }
  const memo: ArchiveMemo = { version: 1, regions: {}, manifestJson: unpacked.manifestJson, members: {} };
  for (const [name, m] of unpacked.members) {
    if (m.type === 'file' && !m.digest) continue; // small and unused: not kept
    (memo.members as Record<string, MemoMember>)[name] = { type: m.type, size: m.size, linkname: m.linkname, ...(m.digest ? { digest: m.digest } : {}) };
  }
  await store.save(memo);
  return finish(label, configBytes, layers, blobs);
}

async function readRegionOf(path: string, length: number): Promise<Buffer> {
  const h = await open(path, 'r');
  try {
    return await readRegion(h, 0, length);
  } finally {
    await h.close();
  }
}

/** The synthetic manifest: fixed key order, so the same archive always gives the same digest. */
function finish(label: string, configBytes: Buffer, layers: Descriptor[], blobs: Map<string, LayerBlob>): Opened {
  const configDesc: Descriptor = { mediaType: OCI_CONFIG, digest: digestOf(configBytes), size: configBytes.length };
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: configDesc,
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const source = new ArchiveSource(label, { desc: configDesc, bytes: configBytes }, blobs);
  return { source, root: { bytes, digest: digestOf(bytes), mediaType: OCI_MANIFEST } };
}

export async function openDockerArchive(
  ref: DockerArchiveReference,
  cache: BlobCache,
  opts: OpenImageOptions,
): Promise<Opened> {
  const path = resolve(ref.path);
  const label = `docker-archive:${ref.path}`;
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new SmrError('SOURCE_NOT_FOUND', `docker archive ${ref.path} does not exist`);
  if (!st.isFile()) throw new SmrError('INVALID_ARCHIVE', `docker archive ${ref.path} is not a file`);
  const handle = await open(path, 'r');
  try {
    const kind = sniffCompression(await readRegion(handle, 0, 10));
    if (kind === 'none') return await openPlain(path, st, handle, ref, label, cache, opts);
    if (kind === 'xz' || kind === 'bzip2') {
      throw new SmrError('INVALID_ARCHIVE', `${label} is ${kind}-compressed; only plain, gzip and zstd archives are supported`);
    }
    return await openCompressed(path, st, ref, label, cache, opts);
  } finally {
    await handle.close();
  }
}
