// Visits every chunk of a recipe in order, fetching a few ahead so decoding
// overlaps with the consumer.
import type { RecipeView } from '../blockdev/recipe-view.js';

const AHEAD = 8;

/** `ahead` chunks are fetched and decoded while `fn` works on an earlier one. */
export async function forEachChunk(view: RecipeView, fn: (index: number, data: Buffer | null) => Promise<void>, ahead = AHEAD): Promise<void> {
  const pending: Array<Promise<Buffer | null>> = [];
  let next = 0;
  const fill = () => {
    while (pending.length < ahead && next < view.chunkCount) {
      const p = view.chunkData(next++);
      p.catch(() => {}); // rethrown when its turn comes; never unhandled meanwhile
      pending.push(p);
    }
  };
  fill();
  for (let i = 0; i < view.chunkCount; i++) {
    const data = await pending.shift()!;
    fill();
    await fn(i, data);
  }
}
