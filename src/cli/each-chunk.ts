// Visits every chunk of a recipe in order, fetching a few ahead so decoding
// overlaps with the consumer.
import type { RecipeView } from '../blockdev/recipe-view.js';

const AHEAD = 8;

/**
 * `ahead` chunks are fetched and decoded while `fn` works on an earlier one.
 * Indices `skip` returns true for are neither fetched nor passed to `fn`.
 */
export async function forEachChunk(view: RecipeView, fn: (index: number, data: Buffer | null) => Promise<void>, ahead = AHEAD, skip?: (index: number) => boolean): Promise<void> {
  const pending: Array<{ index: number; data: Promise<Buffer | null> }> = [];
  let next = 0;
  const fill = () => {
    while (pending.length < ahead && next < view.chunkCount) {
      const index = next++;
      if (skip?.(index)) continue;
      const data = view.chunkData(index);
      data.catch(() => {}); // rethrown when its turn comes; never unhandled meanwhile
      pending.push({ index, data });
    }
  };
  fill();
  while (pending.length > 0) {
    const { index, data } = pending.shift()!;
    const bytes = await data;
    fill();
    await fn(index, bytes);
  }
}
