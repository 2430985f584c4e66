// Options that shape the ext4 image, shared by build and convert.
import type { BuildOptions, HiddenData } from '../image/build-image.js';
import { parseSize, UsageError, type Options } from './args.js';

export const layoutOptions = {
  spec: {
    size: { type: 'string' },
    hidden: { type: 'string' },
  } satisfies Options,
  help: `      --size SIZE        device size, e.g. 2G; default: content plus headroom
      --hidden keep|zero what to do with the blocks of files an upper layer
                         deletes or replaces: keep their bytes (default; the
                         blocks are free in the filesystem and unreachable
                         through it, and a derived image shares them with its
                         base) or zero them (holes; for an image stored alone)`,
};

export function layoutBuildOptions(values: Record<string, unknown>): Pick<BuildOptions, 'sizeBytes' | 'hidden'> {
  const sizeBytes = values.size !== undefined ? parseSize(values.size as string, '--size') : undefined;
  const hidden = (values.hidden ?? 'keep') as string;
  if (hidden !== 'keep' && hidden !== 'zero') throw new UsageError(`--hidden: '${hidden}' is neither 'keep' nor 'zero'`);
  return { sizeBytes, hidden: hidden as HiddenData };
}
