// Writes small OCI image layouts from tar bytes, for tests that need layers
// with exactly the entries (or the mistakes) they are about.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function putBlob(dir: string, data: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha(data);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  return { digest, size: data.length };
}

export interface LayoutOptions {
  compress?: 'gzip' | 'zstd' | 'none';
  /** Override diff_ids (to test mismatches). */
  diffIds?: string[];
  created?: string;
  /** The config's architecture (default amd64). */
  architecture?: string;
  /** The config's config (Cmd, Env, ...). */
  config?: Record<string, unknown>;
}

/** Writes an OCI layout at dir with one image (tag "latest"); returns the manifest digest. */
export async function writeOciLayout(dir: string, layers: Buffer[], opts: LayoutOptions = {}): Promise<string> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const compress = opts.compress ?? 'gzip';
  const layerDescs = [];
  for (const tar of layers) {
    const blob = compress === 'gzip' ? gzipSync(tar) : compress === 'zstd' ? zstdCompressSync(tar) : tar;
    const d = await putBlob(dir, blob);
    layerDescs.push({ mediaType: `application/vnd.oci.image.layer.v1.tar${compress === 'none' ? '' : `+${compress}`}`, ...d });
  }
  const config = {
    created: opts.created ?? '2024-01-01T00:00:00Z',
    architecture: opts.architecture ?? 'amd64',
    os: 'linux',
    config: opts.config ?? {},
    rootfs: { type: 'layers', diff_ids: opts.diffIds ?? layers.map(sha) },
  };
  const cfg = await putBlob(dir, Buffer.from(JSON.stringify(config)));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
    layers: layerDescs,
  };
  const m = await putBlob(dir, Buffer.from(JSON.stringify(manifest)));
  const index = {
    schemaVersion: 2,
    manifests: [{ mediaType: manifest.mediaType, ...m, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
  };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  return m.digest;
}
