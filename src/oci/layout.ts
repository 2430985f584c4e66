// An OCI image layout directory (oci-layout, index.json, blobs/<alg>/<hex>),
// as skopeo, umoci, buildah and `docker buildx --output type=oci` write it.
// Blobs are read in place and verified on every read.
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SmrError } from '../util/errors.js';
import { parseDigest } from '../util/digest.js';
import { openVerifiedFile, readVerifiedFile } from './blob-file.js';
import { OCI_INDEX } from './media-types.js';
import { parseDocument, parseJson } from './manifest.js';
import type { ImageSource, RootDocument } from './resolve.js';
import type { OciLayoutReference } from './reference.js';
import type { Descriptor } from './types.js';

const REF_NAME = 'org.opencontainers.image.ref.name';

class LayoutSource implements ImageSource {
  readonly name: string;
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    this.name = `oci:${dir}`;
  }

  blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.dir, 'blobs', algorithm, hex);
  }

  readManifest(desc: Descriptor, what: string): Promise<Buffer> {
    return readVerifiedFile(this.blobPath(desc.digest), desc, what);
  }

  readConfig(desc: Descriptor, what: string): Promise<Buffer> {
    return readVerifiedFile(this.blobPath(desc.digest), desc, what);
  }

  openLayer(desc: Descriptor, label: string) {
    return openVerifiedFile(this.blobPath(desc.digest), desc, label);
  }

  async close(): Promise<void> {}
}

async function readLayoutFile(dir: string, file: string, name: string): Promise<Buffer> {
  try {
    return await readFile(join(dir, file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new SmrError('NOT_OCI_LAYOUT', `${dir} is not an OCI image layout (no ${file}) for ${name}`);
    }
    throw new SmrError('IO_ERROR', `cannot read ${join(dir, file)}: ${(err as Error).message}`, { cause: err });
  }
}

/** Checks the directory, reads index.json and finds what the tag or digest names. */
export async function openLayout(ref: OciLayoutReference, reference: string): Promise<{ source: ImageSource; root: RootDocument }> {
  const dir = resolve(ref.path);
  const st = await stat(dir).catch(() => undefined);
  if (!st) throw new SmrError('SOURCE_NOT_FOUND', `OCI layout directory ${ref.path} does not exist`);
  if (!st.isDirectory()) throw new SmrError('NOT_OCI_LAYOUT', `${ref.path} is not a directory, so not an OCI image layout`);

  const marker = parseJson(await readLayoutFile(dir, 'oci-layout', reference), `${dir}/oci-layout`) as { imageLayoutVersion?: unknown };
  if (typeof marker?.imageLayoutVersion !== 'string' || !marker.imageLayoutVersion.startsWith('1.')) {
    throw new SmrError('NOT_OCI_LAYOUT', `${dir}/oci-layout has unsupported imageLayoutVersion ${JSON.stringify(marker?.imageLayoutVersion)}`);
  }
  const indexWhat = `${dir}/index.json`;
  const indexDoc = parseDocument(await readLayoutFile(dir, 'index.json', reference), indexWhat, OCI_INDEX);
  if (indexDoc.kind !== 'index') throw new SmrError('NOT_OCI_LAYOUT', `${indexWhat} is not an image index`);
  const entries = indexDoc.index.manifests;
  const source = new LayoutSource(dir);

  const fromDescriptor = async (desc: Descriptor): Promise<RootDocument> => {
    const what = `manifest ${desc.digest} of ${source.name}`;
    return { bytes: await source.readManifest(desc, what), digest: desc.digest, mediaType: desc.mediaType };
  };

  if (ref.digest) {
    const listed = entries.find((d) => d.digest === ref.digest);
    if (listed) return { source, root: await fromDescriptor(listed) };
    // Not listed in index.json, e.g. one platform's manifest under an index.
    const path = source.blobPath(ref.digest);
    const blob = await stat(path).catch(() => undefined);
    if (!blob?.isFile()) {
      throw new SmrError('MANIFEST_NOT_FOUND', `no manifest ${ref.digest} in ${source.name} (not in index.json, no blob ${path})`);
    }
    const bytes = await readVerifiedFile(path, { mediaType: '', digest: ref.digest, size: blob.size }, `manifest ${ref.digest} of ${source.name}`);
    return { source, root: { bytes, digest: ref.digest } };
  }

  const tag = ref.tag ?? (entries.length === 1 ? undefined : 'latest');
  if (tag === undefined) return { source, root: await fromDescriptor(entries[0] as Descriptor) };
  const matches = entries.filter((d) => d.annotations?.[REF_NAME] === tag);
  if (matches.length === 1) return { source, root: await fromDescriptor(matches[0] as Descriptor) };
  if (matches.length > 1) {
    // Several entries under one tag (one per platform): read them as an index.
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: matches }));
    return { source, root: { bytes, digest: `${tag} in ${indexWhat}`, mediaType: OCI_INDEX } };
  }
  const tags = [...new Set(entries.map((d) => d.annotations?.[REF_NAME]).filter((t): t is string => !!t))];
  const available = tags.length > 0 ? `available: ${tags.join(', ')}` : entries.length === 0 ? 'the layout holds no images' : 'no tagged images';
  throw new SmrError('TAG_NOT_FOUND', `tag "${tag}" not found in ${source.name} (${available})`);
}
