// smr copy --level/--compression: the recipe's chunks read from one store,
// decoded (digest and key checked), encoded again by the Chunker at another
// level and put into the destination. Convert stays fast at level 1; the
// slow, small level is paid once, when an image is published.
import { StoreChunkSource } from '../blockdev/chunk-source.js';
import { RecipeView } from '../blockdev/recipe-view.js';
import { Chunker, type ChunkerStats } from '../chunk/chunker.js';
import type { Compression, Recipe, RecipeChunk } from '../chunk/types.js';
import type { ChunkReader, ChunkWriter } from '../store/types.js';
import { forEachChunk } from './each-chunk.js';

/**
 * The chunks one run has re-encoded, by source chunk: recipes that share
 * chunks (images on one base) have those encoded once, by the first recipe.
 * A source chunk is its name with the key and salt that decode it; the
 * output options must be the same for every recipe that uses the memo.
 */
export class ReencodeMemo {
  private readonly encoded = new Map<string, Omit<RecipeChunk, 'index'>>();
  private static id(c: RecipeChunk): string {
    return `${c.digest} ${c.key?.toString('hex') ?? ''} ${c.salt?.toString('hex') ?? ''}`;
  }

  get(c: RecipeChunk): Omit<RecipeChunk, 'index'> | undefined {
    return this.encoded.get(ReencodeMemo.id(c));
  }

  /**
   * Records what each chunk of `from` became in `to` (the same image, index
   * for index). A stored chunk of zeros has no counterpart: the chunker
   * leaves zeros out of the new recipe, so it is not learnt.
   */
  learn(from: Recipe, to: Recipe): void {
    const out = new Map(to.chunks.map((c) => [c.index, c]));
    for (const c of from.chunks) {
      const became = out.get(c.index);
      if (became === undefined) continue;
      const { index: _, ...encoded } = became;
      this.encoded.set(ReencodeMemo.id(c), encoded);
    }
  }
}

export interface RecompressOptions {
  compression: Compression;
  /** Undefined: the codec's default level. */
  level?: number;
  /** Chunks fetched and decoded ahead of the encoder (bounds memory). */
  ahead: number;
  /** After each chunk put into the destination. */
  onProgress?: (encoded: number, stats: ChunkerStats) => void;
  /** Chunks re-encoded earlier in this run, into the same destination with the same options. */
  memo?: ReencodeMemo;
}

export interface Recompressed {
  recipe: Recipe;
  stats: ChunkerStats;
  /** Chunks the memo had: recorded, not encoded again (included in stats.chunks). */
  reused: number;
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
  // Chunks an earlier recipe of the run encoded are neither fetched nor encoded.
  const known = new Set<number>();
  try {
    for (const c of recipe.chunks) {
      const earlier = opts.memo?.get(c);
      if (earlier === undefined) continue;
      chunker.addEncoded(c.index, view.chunkLength(c.index), earlier);
      known.add(c.index);
    }
    const encode = async (index: number, plain: Buffer | null) => (plain ? chunker.add(index, plain) : chunker.addZero(view.chunkLength(index)));
    await forEachChunk(view, encode, opts.ahead, (index) => known.has(index));
  } catch (e) {
    await chunker.abort();
    throw e;
  }
  const out = await chunker.finish(recipe.imageSize, recipe.source);
  opts.memo?.learn(recipe, out);
  return { recipe: out, stats: chunker.stats, reused: known.size };
}

/** The bytes a store holds for a recipe: each distinct chunk once. */
export function distinctStoredBytes(recipe: Recipe): number {
  const sizes = new Map(recipe.chunks.map((c) => [c.digest, c.storedLength]));
  let n = 0;
  for (const s of sizes.values()) n += s;
  return n;
}
