// From a root document (what a tag or digest names) to one platform's
// manifest, config and layers — the same walk for every source, which only
// supplies how to read a manifest, a config and a layer.
import type { Readable } from 'node:stream';
import { SmrError } from '../util/errors.js';
import { OCI_MANIFEST, manifestKind } from './media-types.js';
import {
  checkImageMediaTypes,
  configPlatform,
  parseConfig,
  parseDocument,
  type IndexJson,
  type ManifestJson,
} from './manifest.js';
import { defaultPlatform, formatPlatform, listPlatforms, parsePlatform, pickPlatform, platformScore } from './platform.js';
import type { Descriptor, ImageConfig, LayerInfo, Platform, ResolvedImage } from './types.js';

export interface ImageSource {
  /** Names the source in messages, e.g. "oci:/x/y" or "127.0.0.1:5000/fixtures/static". */
  readonly name: string;
  /** A manifest or index, whole, verified against `desc`. */
  readManifest(desc: Descriptor, what: string): Promise<Buffer>;
  /** The config blob, whole, verified against `desc`. */
  readConfig(desc: Descriptor, what: string): Promise<Buffer>;
  /** A layer's compressed bytes, verified while they stream. */
  openLayer(desc: Descriptor, label: string): Promise<Readable>;
  /** Called once the layers are known, before openImage returns (a registry downloads them). */
  prepareLayers?(layers: Descriptor[]): Promise<void>;
  close(): Promise<void>;
}

export interface RootDocument {
  bytes: Buffer;
  digest: string;
  /** Media type the transport reported (Content-Type, descriptor). */
  mediaType?: string;
}

const MAX_INDEX_DEPTH = 4;

interface Selected {
  desc: Descriptor;
  /** Chosen by an index entry's platform (then the config is not re-checked). */
  byIndex: boolean;
}

async function selectFromIndex(
  source: ImageSource,
  index: IndexJson,
  what: string,
  want: Platform,
  seen: Descriptor[],
  depth: number,
): Promise<Selected | undefined> {
  const manifests = index.manifests.filter((d) => manifestKind(d.mediaType) === 'manifest');
  seen.push(...manifests);
  const best = pickPlatform(want, manifests);
  if (best) return { desc: best, byIndex: true };
  for (const nested of index.manifests.filter((d) => manifestKind(d.mediaType) === 'index')) {
    if (depth >= MAX_INDEX_DEPTH) throw new SmrError('INVALID_MANIFEST', `${what}: image indexes nested too deep`);
    const nestedWhat = `index ${nested.digest}`;
    const doc = parseDocument(await source.readManifest(nested, nestedWhat), nestedWhat, nested.mediaType);
    if (doc.kind !== 'index') throw new SmrError('INVALID_MANIFEST', `${nestedWhat} is declared an index but is a manifest`);
    const found = await selectFromIndex(source, doc.index, nestedWhat, want, seen, depth + 1);
    if (found) return found;
  }
  // An index holding one manifest without a platform (common in OCI layouts):
  // take it, and let the config's platform speak.
  if (index.manifests.length === 1 && manifests.length === 1 && !manifests[0]?.platform) {
    return { desc: manifests[0] as Descriptor, byIndex: false };
  }
  return undefined;
}

export async function resolveImage(
  source: ImageSource,
  root: RootDocument,
  reference: string,
  platformOption?: string,
): Promise<ResolvedImage> {
  const explicit = platformOption !== undefined;
  const want = parsePlatform(platformOption ?? defaultPlatform());
  let doc = parseDocument(root.bytes, `manifest ${root.digest} of ${source.name}`, root.mediaType);
  let manifestDigest = root.digest;
  let manifestDescriptor: Descriptor = { mediaType: root.mediaType ?? OCI_MANIFEST, digest: root.digest, size: root.bytes.length };
  let byIndex = false;
  let indexPlatform: Platform | undefined;
  if (doc.kind === 'index') {
    const seen: Descriptor[] = [];
    const picked = await selectFromIndex(source, doc.index, `index ${root.digest}`, want, seen, 0);
    if (!picked) {
      throw new SmrError(
        'PLATFORM_NOT_FOUND',
        `${reference} has no image for platform ${formatPlatform(want)} (available: ${listPlatforms(seen)})`,
      );
    }
    const what = `manifest ${picked.desc.digest} of ${source.name}`;
    const bytes = await source.readManifest(picked.desc, what);
    doc = parseDocument(bytes, what, picked.desc.mediaType);
    manifestDescriptor = { mediaType: picked.desc.mediaType, digest: picked.desc.digest, size: bytes.length };
    if (doc.kind !== 'manifest') throw new SmrError('INVALID_MANIFEST', `${what} is an index where a manifest was expected`);
    manifestDigest = picked.desc.digest;
    byIndex = picked.byIndex;
    indexPlatform = picked.desc.platform;
  }
  const manifest: ManifestJson = doc.manifest;
  // The manifest names its own type where the source did not (a layout's index entry may not).
  if (typeof manifest.mediaType === 'string') manifestDescriptor.mediaType = manifest.mediaType;
  const what = `manifest ${manifestDigest} of ${source.name}`;
  checkImageMediaTypes(manifest, what);
  const configBytes = await source.readConfig(manifest.config, `config ${manifest.config.digest} of ${source.name}`);
  const config = parseConfig(configBytes, `config ${manifest.config.digest} of ${source.name}`, manifest.layers.length);
  const imagePlatform = configPlatform(config) ?? indexPlatform;
  if (!byIndex && explicit && imagePlatform && platformScore(want, imagePlatform) === 0) {
    throw new SmrError(
      'PLATFORM_MISMATCH',
      `${reference} is a ${formatPlatform(imagePlatform)} image, not ${formatPlatform(want)} as requested`,
    );
  }
  const diffIds = (config.rootfs as { diff_ids: string[] }).diff_ids;
  const layers: LayerInfo[] = manifest.layers.map((descriptor, i) => ({ descriptor, diffId: diffIds[i] as string }));
  await source.prepareLayers?.(manifest.layers);
  return makeResolvedImage({
    source,
    reference,
    manifestDigest,
    manifestDescriptor,
    manifest,
    config,
    configDigest: manifest.config.digest,
    platform: imagePlatform ?? want,
    layers,
  });
}

interface ResolvedParts {
  source: ImageSource;
  reference: string;
  manifestDigest: string;
  manifestDescriptor: Descriptor;
  manifest: ManifestJson;
  config: ImageConfig;
  configDigest: string;
  platform: Platform;
  layers: LayerInfo[];
}

function makeResolvedImage(p: ResolvedParts): ResolvedImage {
  const { source, layers } = p;
  return {
    reference: p.reference,
    manifestDigest: p.manifestDigest,
    manifestDescriptor: p.manifestDescriptor,
    manifest: p.manifest,
    configDigest: p.configDigest,
    config: p.config,
    platform: p.platform,
    layers,
    openLayer(index: number): Promise<Readable> {
      const layer = layers[index];
      if (!Number.isInteger(index) || !layer) {
        return Promise.reject(new RangeError(`layer index ${index} out of range (image has ${layers.length} layers)`));
      }
      const d = layer.descriptor;
      return source.openLayer(d, `layer ${index} (${d.digest}) of ${p.reference}`);
    },
    close: () => source.close(),
  };
}
