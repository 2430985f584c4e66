// The OCI image input layer: open an image from an OCI layout, a
// docker-archive or a registry, resolved to one platform, with every blob
// verified. Errors a user can cause are SmrError with these stable codes:
//   INVALID_REFERENCE UNSUPPORTED_SOURCE INVALID_PLATFORM SOURCE_NOT_FOUND
//   NOT_OCI_LAYOUT INVALID_ARCHIVE IMAGE_NOT_FOUND AMBIGUOUS_IMAGE
//   TAG_NOT_FOUND MANIFEST_NOT_FOUND BLOB_NOT_FOUND INVALID_JSON
//   INVALID_MANIFEST INVALID_CONFIG INVALID_DIGEST UNSUPPORTED_DIGEST
//   UNSUPPORTED_MEDIA_TYPE DIGEST_MISMATCH PLATFORM_NOT_FOUND
//   PLATFORM_MISMATCH AUTH_REQUIRED AUTH_FAILED AUTH_FILE_ERROR
//   CONNECTION_FAILED REGISTRY_ERROR NOT_A_REGISTRY CACHE_ERROR IO_ERROR
//   BLOB_TOO_LARGE
import { BlobCache } from './blob-cache.js';
import { openDockerArchive } from './docker-archive.js';
import { openLayout } from './layout.js';
import { parseImageReference } from './reference.js';
import { resolveImage } from './resolve.js';
import type { OpenImageOptions, ResolvedImage } from './types.js';

export type * from './types.js';
export { parseImageReference, canonicalName } from './reference.js';
export type { ParsedReference, OciLayoutReference, DockerArchiveReference, RegistryReference } from './reference.js';
export { defaultPlatform, parsePlatform, formatPlatform } from './platform.js';
export { defaultCacheDir } from './blob-cache.js';
export { layerCompression } from './media-types.js';

/**
 * Opens `ref` and resolves it to one platform's manifest, config and layers.
 * Registry layers are downloaded into the blob cache before this returns;
 * layout and uncompressed docker-archive layers are read in place.
 */
export async function openImage(ref: string, opts: OpenImageOptions = {}): Promise<ResolvedImage> {
  const parsed = parseImageReference(ref);
  const cache = new BlobCache(opts.cacheDir);
  const opened =
    parsed.transport === 'oci'
      ? await openLayout(parsed, ref)
      : parsed.transport === 'docker-archive'
        ? await openDockerArchive(parsed, cache, opts)
        : // Loaded on demand: node:http and node:https cost ~50-150 ms of start-up
          // that a build from a local layout or archive never needs.
          await (await import('./registry.js')).openRegistry(parsed, cache, opts);
  try {
    return await resolveImage(opened.source, opened.root, ref, opts.platform);
  } catch (err) {
    await opened.source.close();
    throw err;
  }
}
