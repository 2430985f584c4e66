// Options shared by every command that reads an OCI image.
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { OpenImageOptions } from '../oci/types.js';
import type { Options } from './args.js';

export const SOURCE_HELP = `SOURCE is one of:
  oci:DIR[:TAG]  oci:DIR@sha256:...     an OCI image layout directory
  docker-archive:FILE[:REF]             a 'docker save' tarball (compressed or not)
  docker://HOST[:PORT]/REPO[:TAG|@DIGEST]  a registry (also without docker://;
                                        short names mean Docker Hub)`;

export const sourceOptions = {
  spec: {
    platform: { type: 'string' },
    'blob-cache': { type: 'string' },
    'cache-dir': { type: 'string' },
    insecure: { type: 'boolean' },
    'auth-file': { type: 'string' },
  } satisfies Options,
  help: `      --platform OS/ARCH[/VARIANT]  which image of a multi-platform index
                         (default: this machine's, e.g. linux/amd64)
      --blob-cache DIR   downloaded blobs, shared by all images
                         (default: ${join(homedir(), '.cache', 'stream-my-root')};
                         --cache-dir is the older spelling)
      --insecure         allow plain HTTP to registries other than localhost
      --auth-file FILE   registry credentials (default: ~/.docker/config.json)`,
};

export function sourceOpenOptions(values: Record<string, unknown>): OpenImageOptions {
  return {
    platform: values.platform as string | undefined,
    cacheDir: (values['blob-cache'] ?? values['cache-dir']) as string | undefined,
    insecure: Boolean(values.insecure),
    authFile: values['auth-file'] as string | undefined,
  };
}
