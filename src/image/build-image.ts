// OCI image -> ext4 image, streaming the layer blobs, never unpacking them.
//
// Every layer is applied to an in-memory tree of metadata (the flattener),
// which reserves each new file's blocks in its layer's region in stream
// order; when a layer ends, the ext4 layout copies the directories it
// touched after its files (ext4/layer-layout), so the next layer's region
// starts there. Where a file's bytes go is therefore known the moment its
// header is read. What is not known until the last layer is whether an upper layer will
// hide the file. By default a hidden file's bytes stay where they were
// written (its blocks are free in the bitmaps, so nothing in the filesystem
// reaches them): a derived image then has the same bytes as its base at the
// same offsets, and shares those chunks. With `hidden: 'zero'` they become
// holes instead. Two ways to write follow:
//
//   random-access sink (a file): one pass. Content is written as it streams;
//   at the end hidden ranges are cleared (zero mode), then the directory
//   copies, inode tables, bitmaps and superblock are written.
//
//   streaming sink (a chunker), keeping hidden bytes: one pass too. Layer
//   content already comes in increasing offsets (regions in layer order,
//   slots in stream order, each layer's directory copies written as the
//   layer ends), and the header region, the one part written out of order,
//   is held by the sink until the end; the inode tables come after the last
//   layer's region.
//
//   streaming sink, zeroing hidden bytes: two passes. Pass 1 reads headers
//   only; pass 2 re-reads the layers and writes the content to keep (each
//   layer's files, then its directory copies), in offset order, so a chunk
//   is final as soon as the writer moves past it.
import { SmrError } from '../util/errors.js';
import type { ResolvedImage } from '../oci/types.js';
import type { ProgressSink } from '../util/progress-sink.js';
import { TarReader, decompressChunks } from '../tar/index.js';
import type { TarEntry } from '../tar/types.js';
import { Flattener, type LayerPlan, type Slot } from '../flatten/flattener.js';
import { displayPath } from '../flatten/path.js';
import { BLOCK_SIZE, HEADER_REGION_BLOCKS } from '../ext4/constants.js';
import { blocksFor } from '../ext4/placement.js';
import { seedWords } from '../ext4/hash.js';
import { LayerLayout, snapshotPieces, type LayerArea } from '../ext4/layer-layout.js';
import { Ext4Plan, type LayoutRegion, type PlanStats } from '../ext4/plan.js';
import { contentBlock, slotMetadata } from '../ext4/slot-blocks.js';
import { canHoldHead, isRandomAccess, type ImageSink } from '../sink/types.js';
import { readAhead } from '../util/read-ahead.js';
import { OffThreadSha256 } from '../util/sha256-off-thread.js';
import { deriveIdentity } from './identity.js';

/** Decompressed bytes kept ready ahead of the tar reader. */
const READ_AHEAD_BYTES = 8 << 20;
/**
 * The next layer is decompressed while the current one is applied, this far
 * ahead: its decompressor then runs on the core the current layer's threads
 * leave idle, instead of after them.
 */
const NEXT_LAYER_AHEAD_BYTES = 32 << 20;

/** What becomes of the blocks of files that upper layers hide. */
export type HiddenData = 'keep' | 'zero';

export interface BuildOptions {
  sizeBytes?: number;
  /** Default 'keep': dedups with the base image; 'zero' leaves holes. */
  hidden?: HiddenData;
  progress?: ProgressSink;
}

export interface BuildResult {
  sizeBytes: number;
  stats: PlanStats;
  /** Byte ranges of files that upper layers hid (holes in zero mode). */
  hiddenRanges: Array<{ start: number; end: number }>;
  /** What each byte range of the image holds (for reports). */
  regions: LayoutRegion[];
}

function layerLabel(image: ResolvedImage, i: number): string {
  return `layer ${i + 1}/${image.layers.length} (${image.layers[i]!.descriptor.digest.slice(0, 19)})`;
}

/**
 * A tar reader over a layer's uncompressed bytes. Every byte, including the
 * padding after the end-of-archive marker, passes `hash` (for the diff_id).
 */
async function openTar(image: ResolvedImage, i: number, hash: OffThreadSha256 | null, onBytes: (n: number) => void, aheadBytes = READ_AHEAD_BYTES) {
  const compressed = await image.openLayer(i);
  // The generator itself, not a Readable around it: one queue (readAhead) is enough.
  const plain = decompressChunks(compressed, { what: layerLabel(image, i) });
  const ahead = readAhead(plain, aheadBytes);
  const reader = new TarReader(ahead, {
    drain: hash !== null,
    onInput: (chunk) => {
      onBytes(chunk.length);
      return hash?.update(chunk);
    },
  });
  const close = () => {
    ahead.cancel(); // ends the generator, which ends the decompressor
    compressed.destroy();
  };
  return { reader, close };
}

type ContentWriter = (layerStart: number, slot: Slot, e: TarEntry, reader: TarReader) => Promise<void>;

/**
 * Applies every layer to a new flattener, verifying diff_ids. When `content`
 * is given (one-pass mode), each new slot's blocks are written as they come;
 * `afterLayer` gets each layer's area (its directory copies) as it ends.
 */
async function readLayers(image: ResolvedImage, progress: ProgressSink | undefined, content?: ContentWriter, afterLayer?: (area: LayerArea) => Promise<void>): Promise<{ flat: Flattener; layout: LayerLayout }> {
  const flat = new Flattener(blocksFor);
  const layout = new LayerLayout(flat.root, seedWords(deriveIdentity(image).hashSeed));
  const n = image.layers.length;
  let bytesSeen = 0;
  const open = (i: number, aheadBytes: number) => {
    const hash = new OffThreadSha256();
    const tar = openTar(
      image,
      i,
      hash,
      (b) => {
        bytesSeen += b;
        progress?.update({ phase: `layer ${i + 1}/${n}`, done: bytesSeen });
      },
      aheadBytes,
    );
    tar.catch(() => {}); // a failure to open is thrown when the layer's turn comes
    return { hash, tar };
  };
  let next = n > 0 ? open(0, READ_AHEAD_BYTES) : null;
  try {
    for (let i = 0; i < n; i++) {
      const label = layerLabel(image, i);
      const { hash, tar } = next!;
      next = null;
      const { reader, close } = await tar;
      if (i + 1 < n) next = open(i + 1, NEXT_LAYER_AHEAD_BYTES);
      const plan = flat.beginLayer(i, (e: TarEntry) => `${label}: entry '${displayPath(e.path)}'`);
      const layerStart = layout.nextStart();
      try {
        for (let e = await reader.next(); e !== null; e = await reader.next()) {
          const slots = plan.slots.length;
          flat.apply(e);
          if (content && plan.slots.length > slots) await content(layerStart, plan.slots[slots]!, e, reader);
        }
      } catch (e) {
        hash.drop();
        throw e;
      } finally {
        close();
      }
      const area = layout.endLayer(flat.endLayer());
      await afterLayer?.(area);
      const got = `sha256:${await hash.digest()}`;
      const want = image.layers[i]!.diffId;
      if (got !== want) {
        throw new SmrError('DIGEST_MISMATCH', `${label}: uncompressed content has digest ${got}, the image config says ${want}`);
      }
    }
  } finally {
    // A build that failed leaves no decompressor of the next layer running.
    if (next !== null) {
      next.hash.drop();
      void next.tar.then((t) => t.close(), () => {});
    }
  }
  return { flat, layout };
}

function makePlan(image: ResolvedImage, { flat, layout }: { flat: Flattener; layout: LayerLayout }, opts: BuildOptions): Ext4Plan {
  const identity = deriveIdentity(image);
  return new Ext4Plan(flat.root, flat.layers, layout, {
    sizeBytes: opts.sizeBytes,
    uuid: identity.uuid,
    hashSeed: identity.hashSeed,
    mkfsTime: identity.time,
  });
}

/** Writes a slot's metadata blocks and, for a file, its content from the tar. */
async function writeSlot(sink: ImageSink, layerStart: number, slot: Slot, e: TarEntry, reader: TarReader, onBytes: (n: number) => void): Promise<void> {
  for (const p of slotMetadata(layerStart, slot.inode)) await sink.write(p.offset, p.data);
  if (slot.inode.kind !== 'file' || slot.inode.size === 0) return;
  let at = contentBlock(layerStart, slot.inode) * BLOCK_SIZE;
  await reader.readBody(async (chunk) => {
    await sink.write(at, chunk);
    at += chunk.length;
    onBytes(chunk.length);
  });
}

export async function buildImage(image: ResolvedImage, sink: ImageSink, opts: BuildOptions = {}): Promise<BuildResult> {
  const progress = opts.progress;
  const keepHidden = (opts.hidden ?? 'keep') === 'keep';
  try {
    let plan: Ext4Plan;
    const onePass = isRandomAccess(sink) ? sink : keepHidden && canHoldHead(sink) ? sink : null;
    if (onePass !== null) {
      const write = (layerStart: number, slot: Slot, e: TarEntry, reader: TarReader) => writeSlot(onePass, layerStart, slot, e, reader, () => {});
      let read: { flat: Flattener; layout: LayerLayout };
      if (isRandomAccess(onePass)) {
        // The device size is known only at the end; the file grows meanwhile.
        await onePass.begin(opts.sizeBytes ?? 0);
        read = await readLayers(image, progress, write);
        plan = makePlan(image, read, opts);
        // Directory copies last: in zero mode the replaced ones are not written.
        if (!keepHidden) await onePass.clear(plan.hiddenRanges());
        for (let i = 0; i < image.layers.length; i++) for (const p of plan.layerDirPieces(i, keepHidden)) await onePass.write(p.offset, p.data);
      } else {
        // Keep mode: every directory copy stays, so each goes out as its layer ends, in offset order.
        await onePass.beginHeld(HEADER_REGION_BLOCKS * BLOCK_SIZE);
        read = await readLayers(image, progress, write, async (area) => {
          for (const p of snapshotPieces(area.snapshots)) await onePass.write(p.offset, p.data);
        });
        plan = makePlan(image, read, opts);
      }
      await onePass.resize(plan.totalBytes);
      await onePass.write(0, plan.headerPiece().data);
    } else {
      const read = await readLayers(image, progress);
      const flat = read.flat;
      plan = makePlan(image, read, opts);
      await sink.begin(plan.totalBytes);
      await sink.write(0, plan.headerPiece().data);
      let written = 0;
      const totalData = plan.stats.dataBlocks * BLOCK_SIZE;
      for (let i = 0; i < image.layers.length; i++) {
        await rereadLayer(image, i, flat.layers[i]!, plan, sink, keepHidden, (b) => {
          written += b;
          progress?.update({ phase: `writing layer ${i + 1}/${image.layers.length}`, done: written, total: totalData });
        });
        for (const p of plan.layerDirPieces(i, keepHidden)) await sink.write(p.offset, p.data);
      }
    }
    for (const piece of plan.tailPieces()) await sink.write(piece.offset, piece.data);
    await sink.finish();
    return { sizeBytes: plan.totalBytes, stats: plan.stats, hiddenRanges: plan.hiddenRanges(), regions: plan.regions() };
  } catch (e) {
    await sink.abort();
    throw e;
  } finally {
    progress?.done();
  }
}

/** Pass 2 of the streaming mode: the content to keep, in offset order. */
async function rereadLayer(image: ResolvedImage, i: number, layer: LayerPlan, plan: Ext4Plan, sink: ImageSink, keepHidden: boolean, onBytes: (n: number) => void): Promise<void> {
  const kept = keepHidden ? layer.slots : layer.slots.filter((s) => plan.isLive(s));
  const layerStart = plan.layerStartBlock(i);
  if (!kept.some((s) => s.inode.kind === 'file' && s.inode.size > 0)) {
    // Only metadata blocks (long symlink targets, xattr blocks): no need to re-read the layer.
    for (const s of kept) for (const p of slotMetadata(layerStart, s.inode)) await sink.write(p.offset, p.data);
    return;
  }
  const label = layerLabel(image, i);
  const { reader, close } = await openTar(image, i, null, () => {});
  try {
    let entryIndex = 0;
    let k = 0;
    for (let e = await reader.next(); e !== null && k < kept.length; e = await reader.next(), entryIndex++) {
      const slot = kept[k]!;
      if (slot.entryIndex !== entryIndex) continue;
      k++;
      if (slot.inode.kind === 'file' && (e.type !== 'file' || e.size !== slot.inode.size)) {
        throw new SmrError('LAYER_CHANGED', `${label}: entry '${displayPath(e.path)}' differs between the two reads of the layer`);
      }
      await writeSlot(sink, layerStart, slot, e, reader, onBytes);
    }
    if (k !== kept.length) throw new SmrError('LAYER_CHANGED', `${label}: fewer entries on the second read of the layer`);
  } finally {
    close();
  }
}
