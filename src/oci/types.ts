import type { Readable } from 'node:stream';
import type { ProgressSink } from '../util/progress-sink.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string; // "sha256:<hex>"
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface LayerInfo {
  /** Compressed blob descriptor from the manifest. */
  descriptor: Descriptor;
  /** Uncompressed digest from the config's rootfs.diff_ids, same index. */
  diffId: string;
}

/** Image config, only the fields we use are typed. */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  config?: Record<string, unknown>;
  rootfs?: { type: string; diff_ids: string[] };
  [k: string]: unknown;
}

/**
 * An image resolved to one platform manifest, whose blobs can be (re)opened.
 * openLayer may be called several times for the same layer (the ext4 builder
 * reads each layer twice): every open must verify the compressed digest while
 * streaming and fail the stream (error event) on mismatch or short read.
 */
export interface ResolvedImage {
  /** The reference as the user wrote it (e.g. "oci:/x/python3:latest"). */
  reference: string;
  /** Digest of the platform manifest (not of an index). */
  manifestDigest: string;
  /** The platform manifest as a descriptor (the subject of artifacts about this image). */
  manifestDescriptor: Descriptor;
  manifest: { config: Descriptor; layers: Descriptor[]; [k: string]: unknown };
  configDigest: string;
  config: ImageConfig;
  platform: Platform;
  layers: LayerInfo[];
  /** Compressed layer bytes (gzip, zstd or plain tar, as stored). */
  openLayer(index: number): Promise<Readable>;
  /** Releases file handles, temporary files. */
  close(): Promise<void>;
}

export interface OpenImageOptions {
  /** "os/arch[/variant]"; default linux/<host arch>. */
  platform?: string;
  /** Blob cache directory; default ~/.cache/stream-my-root (XDG_CACHE_HOME honoured). */
  cacheDir?: string;
  /** Allow plain HTTP (always allowed for localhost / 127.0.0.1 / ::1). */
  insecure?: boolean;
  /** Path of a docker config.json; default ~/.docker/config.json (DOCKER_CONFIG honoured). */
  authFile?: string;
  progress?: ProgressSink;
}
