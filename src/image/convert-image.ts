// An opened image straight to chunks in a store and its recipe: the ext4
// image is cut as it is written (no image file). Used by `smr convert` and
// by `smr run` on an image's first use.
import { Chunker, type ChunkerOptions, type ChunkerStats } from '../chunk/chunker.js';
import type { Recipe } from '../chunk/types.js';
import { formatPlatform } from '../oci/index.js';
import type { ResolvedImage } from '../oci/types.js';
import type { ProgressSink } from '../util/progress-sink.js';
import { ChunkSink } from '../sink/chunk-sink.js';
import type { ChunkWriter } from '../store/index.js';
import { buildImage, type BuildOptions } from './build-image.js';

export interface Converted {
  recipe: Recipe;
  stats: ChunkerStats;
}

/** Builds IMAGE into STORE; the chunks are durable (flushed) when this returns. */
export async function convertImage(image: ResolvedImage, store: ChunkWriter, chunking: ChunkerOptions, layout: Pick<BuildOptions, 'sizeBytes' | 'hidden'> = {}, progress?: ProgressSink): Promise<Converted> {
  const chunker = new Chunker(store, chunking);
  const sink = new ChunkSink(chunker);
  await buildImage(image, sink, { ...layout, progress });
  const recipe = await chunker.finish(sink.imageSize, {
    reference: image.reference,
    manifestDigest: image.manifestDigest,
    platform: formatPlatform(image.platform),
  });
  await store.flush?.(); // chunks durable before the recipe that names them
  return { recipe, stats: chunker.stats };
}
