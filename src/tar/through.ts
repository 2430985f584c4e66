// Runs an async iterable through a node:zlib transform and yields its output.

import { Readable, pipeline, type Duplex } from 'node:stream';

/**
 * Yields what `z` makes of `src`. An error from `src` comes out unchanged;
 * stopping early destroys `z` and, through the pipeline, ends `src`.
 */
export async function* through(src: AsyncIterable<Buffer>, z: Duplex): AsyncGenerator<Buffer> {
  // Errors reach the consumer through z, which pipeline destroys with them.
  pipeline(Readable.from(src, { objectMode: false }), z, () => {});
  yield* z as AsyncIterable<Buffer>;
}
