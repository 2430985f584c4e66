// Recipes: the manifest of a chunked image. See docs/recipe.md.

export const RECIPE_MEDIA_TYPE = 'application/vnd.stream-my-root.recipe.v1+json';
export const ENCRYPTED_RECIPE_MEDIA_TYPE = 'application/vnd.stream-my-root.recipe.v1+json+encrypted';
export const DEFAULT_CHUNK_SIZE = 512 * 1024;
export const MIN_CHUNK_SIZE = 64 * 1024;
export const MAX_CHUNK_SIZE = 4 * 1024 * 1024;

export type Compression = 'none' | 'zstd' | 'gzip';
export type Encryption = 'none' | 'convergent-aes-256-ctr';

export interface RecipeChunk {
  /** Chunk index: covers bytes [index*chunkSize, (index+1)*chunkSize). */
  index: number;
  /** Lowercase hex SHA-256 of the stored bytes (the chunk's name in the store). */
  digest: string;
  /** Length of the stored bytes. */
  storedLength: number;
  /** Per-chunk key (32 bytes) when encrypted. */
  key?: Buffer;
  /** The recipe's tenant salt (not serialized per chunk; set when parsing). */
  salt?: Buffer;
}

export interface Recipe {
  mediaType: typeof RECIPE_MEDIA_TYPE;
  version: 1;
  /** Where the image came from (informational). */
  source: { reference?: string; manifestDigest?: string; platform?: string };
  imageSize: number;
  chunkSize: number;
  /** How stored chunks are encoded (the codec of each chunk is in its first byte; see docs). */
  encoding: { compression: Compression; encryption: Encryption; salt?: Buffer };
  /** Non-zero chunks, ascending index. Missing indexes are all-zero chunks. */
  chunks: RecipeChunk[];
}
