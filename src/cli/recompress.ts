// smr copy --level/--compression: the recipe's chunks read from one store,
// decoded (digest and key checked), encoded again by the Chunker at another
// level and put into the destination. Convert stays fast at level 1; the
// slow, small level is paid once, when an image is published.
import { StoreChunkSource } from '../blockdev/chunk-source.js';
import { RecipeView } from '../blockdev/recipe-view.js';
import { Chunker, type ChunkerStats } from '../chunk/chunker.js';
import type { Compression, Recipe } from '../chunk/types.js';
import type { ChunkReader, ChunkWriter } from '../store/types.js';
import { forEachChunk } from './each-chunk.js';

export interface RecompressOptions {
  compression: Compression;
  /** Undefined: the codec's default level. */
  level?: number;
  /** Chunks fetched and decoded ahead of the encoder (bounds memory). */
  ahead: number;
  /** After each chunk put into the destination. */
  onProgress?: (encoded: number, stats: ChunkerStats) => void;
}

export interface Recompressed {
  recipe: Recipe;
  stats: ChunkerStats;
}

/**
 * The same image as `recipe`, its chunks encoded with new options into `to`.
 * Encryption and salt stay the recipe's: keys derive from the plaintext, so
 * only the names change. Chunks `to` already holds are not written again.
 */
export async function recompress(recipe: Recipe, from: ChunkReader, to: ChunkWriter, opts: RecompressOptions): Promise<Recompressed> {
  const { encryption, salt } = recipe.encoding;
  let encoded = 0;
  const chunker = new Chunker(to, {
    chunkSize: recipe.chunkSize,
    compression: opts.compression,
    level: opts.level,
    encryption,
    salt,
    onProgress: (stats) => opts.onProgress?.(++encoded, stats),
  });
  // In index order, a bounded number ahead: the chunker's own back-pressure
  // then holds the reads, so memory does not grow with the image.
  const view = new RecipeView(recipe, new StoreChunkSource(from));
  try {
    await forEachChunk(view, async (index, plain) => (plain ? chunker.add(index, plain) : chunker.addZero(view.chunkLength(index))), opts.ahead);
  } catch (e) {
    await chunker.abort();
    throw e;
  }
  const out = await chunker.finish(recipe.imageSize, recipe.source);
  return { recipe: out, stats: chunker.stats };
}

/** The bytes a store holds for a recipe: each distinct chunk once. */
export function distinctStoredBytes(recipe: Recipe): number {
  const sizes = new Map(recipe.chunks.map((c) => [c.digest, c.storedLength]));
  let n = 0;
  for (const s of sizes.values()) n += s;
  return n;
}
