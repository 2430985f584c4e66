// The tar layer's public surface: a streaming reader of uncompressed tar and
// the decompression that comes before it.
export type { TarEntry, TarEntryType, TarTime } from './types.js';
export { TarReader, type TarReaderOptions } from './reader.js';
export type { TarErrorCode } from './errors.js';
export {
  decompressChunks,
  decompressStream,
  sniffCompression,
  type CompressionFormat,
  type DecompressOptions,
} from './decompress.js';
export { gzipEngine, availableGzipEngines, type GzipEngine } from './gzip.js';
