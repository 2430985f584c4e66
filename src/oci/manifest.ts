// Parsing and checking the JSON documents of an image: index, manifest,
// config. Only fields we rely on are checked, but those strictly, so a bad
// document fails here with its name rather than later with a TypeError.
import { SmrError } from '../util/errors.js';
import { parseDigest } from '../util/digest.js';
import { layerCompression, manifestKind, isConfigMediaType, type ManifestKind } from './media-types.js';
import type { Descriptor, ImageConfig, Platform } from './types.js';

export interface ManifestJson {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  [k: string]: unknown;
}

export interface IndexJson {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
  [k: string]: unknown;
}

export type ParsedDocument =
  | { kind: 'index'; mediaType: string; index: IndexJson }
  | { kind: 'manifest'; mediaType: string; manifest: ManifestJson };

function invalid(what: string, why: string): SmrError {
  return new SmrError('INVALID_MANIFEST', `${what} is not valid: ${why}`);
}

export function parseJson(bytes: Buffer | string, what: string): unknown {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch (err) {
    throw new SmrError('INVALID_JSON', `${what} is not valid JSON: ${(err as Error).message}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkPlatform(v: unknown, what: string): Platform | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v) || typeof v.os !== 'string' || typeof v.architecture !== 'string') {
    throw invalid(what, 'platform needs string "os" and "architecture"');
  }
  const p: Platform = { os: v.os, architecture: v.architecture };
  if (typeof v.variant === 'string' && v.variant !== '') p.variant = v.variant;
  return p;
}

function checkDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw invalid(what, 'descriptor is not an object');
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== 'string') throw invalid(what, 'descriptor has no mediaType');
  if (typeof digest !== 'string') throw invalid(what, 'descriptor has no digest');
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(what, 'descriptor has no valid size');
  parseDigest(digest, what);
  const d: Descriptor = { ...(v as object), mediaType, digest, size } as Descriptor;
  const platform = checkPlatform(v.platform, what);
  if (platform) d.platform = platform;
  return d;
}

/**
 * Reads an index or a manifest. The kind comes from the document's own
 * mediaType, else from the one the transport gave, else from its shape
 * (OCI makes mediaType optional).
 */
export function parseDocument(bytes: Buffer, what: string, mediaTypeHint?: string): ParsedDocument {
  const doc = parseJson(bytes, what);
  if (!isObject(doc)) throw invalid(what, 'not a JSON object');
  if (doc.schemaVersion === 1) {
    throw new SmrError('UNSUPPORTED_MEDIA_TYPE', `${what} is a Docker schema 1 manifest, which is not supported`);
  }
  if (doc.schemaVersion !== 2) throw invalid(what, `schemaVersion ${JSON.stringify(doc.schemaVersion)}, expected 2`);
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  let mediaType = declared ?? mediaTypeHint;
  let kind: ManifestKind | undefined = manifestKind(mediaType);
  if (!kind && declared === undefined) {
    if (Array.isArray(doc.manifests)) kind = 'index';
    else if (Array.isArray(doc.layers) && isObject(doc.config)) kind = 'manifest';
    mediaType = kind === 'index' ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json';
  }
  if (!kind) {
    throw new SmrError(
      'UNSUPPORTED_MEDIA_TYPE',
      `${what} has unsupported media type ${JSON.stringify(mediaType ?? null)} (expected an OCI or Docker v2 manifest or index)`,
    );
  }
  if (kind === 'index') {
    if (!Array.isArray(doc.manifests)) throw invalid(what, 'index has no "manifests" array');
    const manifests = doc.manifests.map((m, i) => checkDescriptor(m, `${what} entry ${i}`));
    return { kind, mediaType: mediaType as string, index: { ...doc, schemaVersion: 2, manifests } };
  }
  if (!isObject(doc.config)) throw invalid(what, 'manifest has no "config"');
  if (!Array.isArray(doc.layers)) throw invalid(what, 'manifest has no "layers" array');
  const config = checkDescriptor(doc.config, `${what} config`);
  const layers = doc.layers.map((l, i) => checkDescriptor(l, `${what} layer ${i}`));
  return { kind, mediaType: mediaType as string, manifest: { ...doc, schemaVersion: 2, config, layers } };
}

/** Refuses manifests whose config or layers we could not turn into a root fs. */
export function checkImageMediaTypes(manifest: ManifestJson, what: string): void {
  if (!isConfigMediaType(manifest.config.mediaType)) {
    throw new SmrError(
      'UNSUPPORTED_MEDIA_TYPE',
      `${what} is not a container image: config media type ${manifest.config.mediaType}`,
    );
  }
  manifest.layers.forEach((l, i) => {
    if (layerCompression(l.mediaType) === undefined) {
      throw new SmrError('UNSUPPORTED_MEDIA_TYPE', `${what} layer ${i} (${l.digest}) has unsupported media type ${l.mediaType}`);
    }
  });
}

export function parseConfig(bytes: Buffer, what: string, layerCount: number): ImageConfig {
  const doc = parseJson(bytes, what);
  if (!isObject(doc)) throw new SmrError('INVALID_CONFIG', `${what} is not a JSON object`);
  const rootfs = doc.rootfs;
  if (!isObject(rootfs) || !Array.isArray(rootfs.diff_ids) || !rootfs.diff_ids.every((d) => typeof d === 'string')) {
    throw new SmrError('INVALID_CONFIG', `${what} has no rootfs.diff_ids list`);
  }
  const diffIds = rootfs.diff_ids as string[];
  diffIds.forEach((d, i) => parseDigest(d, `${what} diff_id ${i}`));
  if (diffIds.length !== layerCount) {
    throw new SmrError(
      'INVALID_CONFIG',
      `${what} lists ${diffIds.length} diff_ids but the manifest has ${layerCount} layers`,
    );
  }
  return doc as ImageConfig;
}

export function configPlatform(config: ImageConfig): Platform | undefined {
  if (typeof config.os !== 'string' || typeof config.architecture !== 'string') return undefined;
  const p: Platform = { os: config.os, architecture: config.architecture };
  if (typeof config.variant === 'string' && config.variant !== '') p.variant = config.variant;
  return p;
}
