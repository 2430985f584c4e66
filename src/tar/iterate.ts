// Input plumbing shared by the reader and the decompressor: any iterable of
// byte chunks, sync or async, with chunks as Buffers without copying.

/** An iterator over either kind of iterable. */
export function iteratorOf<T>(input: AsyncIterable<T> | Iterable<T>): AsyncIterator<T> | Iterator<T> {
  return Symbol.asyncIterator in input ? input[Symbol.asyncIterator]() : input[Symbol.iterator]();
}

/** The chunk as a Buffer over the same memory; anything but bytes is a TypeError. */
export function asBuffer(c: unknown, who: string): Buffer {
  if (Buffer.isBuffer(c)) return c;
  if (c instanceof Uint8Array) return Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  throw new TypeError(`${who}: the input must yield Buffers or Uint8Arrays`);
}
