// OCI image -> ext4 image, in two streaming passes over the layer blobs:
//   1. headers only: apply every layer to the in-memory tree, verify each
//      layer's diff_id, and reserve every file's blocks in stream order;
//   2. plan the filesystem, then stream file content from the layers straight
//      to its final offset, followed by the inode tables and directories.
// Offsets only ever grow, so the sink may be a file or a streaming chunker.
import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { SmrError } from '../util/errors.js';
import type { ProgressSink, ResolvedImage } from '../oci/types.js';
import { TarReader, decompressStream } from '../tar/index.js';
import type { TarEntry } from '../tar/types.js';
import { Flattener, type LayerPlan } from '../flatten/flattener.js';
import { displayPath } from '../flatten/path.js';
import { Ext4Plan, type PlanStats } from '../ext4/plan.js';
import type { ImageSink } from '../sink/types.js';
import { deriveIdentity } from './identity.js';

export interface BuildOptions {
  sizeBytes?: number;
  progress?: ProgressSink;
}

export interface BuildResult {
  sizeBytes: number;
  stats: PlanStats;
  /** Byte ranges of each layer's region [start, end) (for dedup reports). */
  layerRegions: Array<{ start: number; end: number }>;
  /** Byte ranges left as holes because upper layers hid their files. */
  hiddenRanges: Array<{ start: number; end: number }>;
}

function layerLabel(image: ResolvedImage, i: number): string {
  return `layer ${i + 1}/${image.layers.length} (${image.layers[i]!.descriptor.digest.slice(0, 19)})`;
}

/**
 * Uncompressed layer bytes, hashed on the way through for the diff_id. The
 * tar reader stops at the end-of-archive marker; drain() reads the padding
 * after it so that the digest covers the whole stream.
 */
class HashingSource implements AsyncIterable<Buffer> {
  private readonly it: AsyncIterator<Buffer>;
  constructor(src: Readable, private readonly hash: Hash, private readonly onBytes: (n: number) => void) {
    this.it = (src as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  private async next(): Promise<IteratorResult<Buffer>> {
    const r = await this.it.next();
    if (!r.done) {
      this.hash.update(r.value);
      this.onBytes(r.value.length);
    }
    return r;
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return {
      next: () => this.next(),
      // A consumer that stops early must not end the stream: drain() may follow.
      return: async () => ({ done: true, value: undefined }),
    };
  }

  async drain(): Promise<void> {
    while (!(await this.next()).done) { /* hash only */ }
  }
}

async function openTar(image: ResolvedImage, i: number, hash: Hash, onBytes: (n: number) => void) {
  const compressed = await image.openLayer(i);
  const plain = decompressStream(compressed, { what: layerLabel(image, i) });
  const source = new HashingSource(plain, hash, onBytes);
  const reader = new TarReader(source);
  const close = () => {
    compressed.destroy();
    plain.destroy();
  };
  return { reader, source, close };
}

export async function buildImage(image: ResolvedImage, sink: ImageSink, opts: BuildOptions = {}): Promise<BuildResult> {
  const progress = opts.progress;
  const flat = new Flattener();
  const n = image.layers.length;
  let bytesSeen = 0;

  // Pass 1: metadata.
  for (let i = 0; i < n; i++) {
    const label = layerLabel(image, i);
    const hash = createHash('sha256');
    const { reader, source, close } = await openTar(image, i, hash, (b) => {
      bytesSeen += b;
      progress?.update({ phase: `reading layer ${i + 1}/${n}`, done: bytesSeen });
    });
    flat.beginLayer(i, (e: TarEntry) => `${label}: entry '${displayPath(e.path)}'`);
    try {
      for (let e = await reader.next(); e !== null; e = await reader.next()) flat.apply(e);
      await source.drain();
    } finally {
      close();
    }
    flat.endLayer();
    const got = `sha256:${hash.digest('hex')}`;
    const want = image.layers[i]!.diffId;
    if (got !== want) {
      throw new SmrError('DIGEST_MISMATCH', `${label}: uncompressed content has digest ${got}, the image config says ${want}`);
    }
  }

  const identity = deriveIdentity(image);
  const plan = new Ext4Plan(flat.root, flat.layers, {
    sizeBytes: opts.sizeBytes,
    uuid: identity.uuid,
    hashSeed: identity.hashSeed,
    mkfsTime: identity.time,
  });

  // Pass 2: bytes, in increasing offset order.
  await sink.begin(plan.totalBytes);
  try {
    await sink.write(0, plan.headerPiece().data);
    let written = 0;
    const totalData = plan.stats.dataBlocks * 4096;
    for (let i = 0; i < n; i++) {
      await writeLayer(image, i, flat.layers[i]!, plan, sink, (b) => {
        written += b;
        progress?.update({ phase: `writing layer ${i + 1}/${n}`, done: written, total: totalData });
      });
    }
    for (const piece of plan.tailPieces()) await sink.write(piece.offset, piece.data);
    await sink.finish();
  } catch (e) {
    await sink.abort();
    throw e;
  } finally {
    progress?.done();
  }
  return { sizeBytes: plan.totalBytes, stats: plan.stats, layerRegions: plan.layerRegions(), hiddenRanges: plan.hiddenRanges() };
}

async function writeLayer(
  image: ResolvedImage,
  i: number,
  layer: LayerPlan,
  plan: Ext4Plan,
  sink: ImageSink,
  onBytes: (n: number) => void,
): Promise<void> {
  const live = layer.slots.filter((s) => plan.isLive(s));
  const needsContent = live.some((s) => s.inode.kind === 'file' && s.inode.size > 0);
  if (!needsContent) {
    // Only metadata blocks (symlink targets, xattr blocks): no need to re-read the layer.
    for (const s of live) for (const p of plan.slotMetadata(i, s)) await sink.write(p.offset, p.data);
    return;
  }
  const label = layerLabel(image, i);
  const { reader, close } = await openTar(image, i, createHash('sha256'), () => {});
  try {
    let entryIndex = 0;
    let k = 0;
    for (let e = await reader.next(); e !== null; e = await reader.next(), entryIndex++) {
      const slot = live[k];
      if (slot === undefined) break; // nothing more to write from this layer
      if (slot.entryIndex !== entryIndex) continue;
      k++;
      for (const p of plan.slotMetadata(i, slot)) await sink.write(p.offset, p.data);
      if (slot.inode.kind !== 'file' || slot.inode.size === 0) continue;
      if (e.type !== 'file' || e.size !== slot.inode.size) {
        throw new SmrError('LAYER_CHANGED', `${label}: entry '${displayPath(e.path)}' differs between the two reads of the layer`);
      }
      let at = plan.contentOffset(i, slot);
      await reader.readBody(async (chunk) => {
        await sink.write(at, chunk);
        at += chunk.length;
        onBytes(chunk.length);
      });
    }
    if (k !== live.length) throw new SmrError('LAYER_CHANGED', `${label}: fewer entries on the second read of the layer`);
  } finally {
    close();
  }
}
