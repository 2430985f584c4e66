// One-line results of the chunking commands.
import type { ChunkerStats } from '../chunk/chunker.js';
import type { Recipe } from '../chunk/types.js';
import { formatBytes } from '../util/progress.js';

export function printChunkSummary(recipePath: string, recipe: Recipe, s: ChunkerStats, store: string): void {
  process.stdout.write(
    `${recipePath}: ${formatBytes(recipe.imageSize)} image, ${s.chunks} chunks of ${formatBytes(recipe.chunkSize)} ` +
      `(${s.zeroChunks} zero), ${formatBytes(s.storedBytes)} stored; ${s.newChunks} new chunks ` +
      `(${formatBytes(s.newStoredBytes)}) written to ${store}\n`,
  );
}
