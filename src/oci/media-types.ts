// The media types we read, OCI and Docker v2 side by side, and how each
// kind of blob is classified. Anything else is refused with a clear message.

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';

/** What a registry is told we accept; Debian's registry 404s OCI content without it. */
export const MANIFEST_ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST].join(', ');

export type ManifestKind = 'index' | 'manifest';

export function manifestKind(mediaType: string | undefined): ManifestKind | undefined {
  switch (mediaType) {
    case OCI_INDEX:
    case DOCKER_MANIFEST_LIST:
      return 'index';
    case OCI_MANIFEST:
    case DOCKER_MANIFEST:
      return 'manifest';
    default:
      return undefined;
  }
}

export function isConfigMediaType(mediaType: string): boolean {
  return mediaType === OCI_CONFIG || mediaType === DOCKER_CONFIG;
}

export type LayerCompression = 'gzip' | 'zstd' | 'none';

/**
 * Compression of a layer media type, or undefined when it is not a layer we
 * can unpack (encrypted layers, artifacts). Foreign / non-distributable
 * layers are accepted: when the source holds the blob they read like others.
 */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  const m = /^application\/vnd\.(?:oci\.image\.layer(?:\.nondistributable)?\.v1\.tar|docker\.image\.rootfs\.(?:foreign\.)?diff\.tar)(?:[+.](gzip|zstd))?$/.exec(
    mediaType,
  );
  if (!m) return undefined;
  return (m[1] as 'gzip' | 'zstd' | undefined) ?? 'none';
}

export function isForeignLayer(mediaType: string): boolean {
  return mediaType.includes('nondistributable') || mediaType.includes('.foreign.');
}

export function layerMediaType(compression: LayerCompression): string {
  return compression === 'gzip' ? OCI_LAYER_GZIP : compression === 'zstd' ? OCI_LAYER_ZSTD : OCI_LAYER_TAR;
}
