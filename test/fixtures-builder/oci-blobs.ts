// The content-addressed blob store the images are assembled in, and the
// OCI layouts copied out of it (hard links: derived images share blobs).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, linkSync, copyFileSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BlobStore {
  /** <root>/blobs/sha256 */
  dir: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

export const MEDIA = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export function openStore(root: string): BlobStore {
  const dir = join(root, 'blobs', 'sha256');
  mkdirSync(dir, { recursive: true });
  return { dir };
}

/** JSON as the registry will hash it: compact, keys in the order built. */
export function putJson(store: BlobStore, doc: unknown): { digest: string; size: number } {
  const bytes = Buffer.from(JSON.stringify(doc));
  const hex = createHash('sha256').update(bytes).digest('hex');
  const path = join(store.dir, hex);
  if (!existsSync(path)) writeFileSync(path, bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

export async function putBlobFile(store: BlobStore, tmp: string): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  for await (const c of createReadStream(tmp)) h.update(c as Buffer);
  const hex = h.digest('hex');
  renameSync(tmp, join(store.dir, hex));
  return { digest: `sha256:${hex}`, size: statSync(join(store.dir, hex)).size };
}

const hexOf = (digest: string) => digest.slice('sha256:'.length);

/** The digests a descriptor pulls in: itself, and for manifests/indexes what they name. */
function reachable(store: BlobStore, d: Descriptor, out: Set<string>): Set<string> {
  out.add(d.digest);
  if (d.mediaType === MEDIA.index || d.mediaType === MEDIA.manifest) {
    const doc = JSON.parse(readFileSync(join(store.dir, hexOf(d.digest)), 'utf8'));
    if (d.mediaType === MEDIA.index) for (const m of doc.manifests as Descriptor[]) reachable(store, m, out);
    else for (const x of [doc.config, ...doc.layers] as Descriptor[]) out.add(x.digest);
  }
  return out;
}

/** Writes OUT as an OCI image layout holding `top` under the tag `tag`. */
export function writeLayout(store: BlobStore, top: Descriptor, out: string, tag = 'latest'): void {
  rmSync(out, { recursive: true, force: true });
  const blobs = join(out, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  for (const digest of reachable(store, top, new Set())) {
    const src = join(store.dir, hexOf(digest));
    try {
      linkSync(src, join(blobs, hexOf(digest)));
    } catch {
      copyFileSync(src, join(blobs, hexOf(digest)));
    }
  }
  writeFileSync(join(out, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const ref = { ...top, annotations: { ...top.annotations, 'org.opencontainers.image.ref.name': tag } };
  writeFileSync(join(out, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [ref] }));
}
