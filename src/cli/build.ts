import { resolve } from 'node:path';
import { openImage } from '../oci/index.js';
import { buildImage } from '../image/build-image.js';
import { FileSink } from '../sink/file-sink.js';
import { formatBytes, makeProgress } from '../util/progress.js';
import { parse, UsageError, type Command } from './args.js';
import { layoutBuildOptions, layoutOptions } from './layout-options.js';
import { SOURCE_HELP, sourceOptions, sourceOpenOptions } from './source-options.js';

export const buildCommand: Command = {
  name: 'build',
  help: `Usage: smr build SOURCE -o IMAGE [options]

Flattens the layers of an OCI image into an ext4 filesystem image, written by
stream-my-root itself (no root, no mke2fs, no loop device). The same SOURCE
always gives the same bytes; images that share base layers share blocks.

${SOURCE_HELP}

Options:
  -o, --output IMAGE     where to write the image (required); written to a
                         temporary file and renamed when complete
${layoutOptions.help}
${sourceOptions.help}
  -q, --quiet            no progress output
  -h, --help             this help`,

  async run(argv) {
    const { values, positionals } = parse('build', argv, {
      output: { type: 'string', short: 'o' },
      quiet: { type: 'boolean', short: 'q' },
      ...layoutOptions.spec,
      ...sourceOptions.spec,
    });
    if (positionals.length !== 1) throw new UsageError(`expected one SOURCE, got ${positionals.length} (see 'smr build --help')`);
    if (!values.output) throw new UsageError("-o IMAGE is required (see 'smr build --help')");
    const layout = layoutBuildOptions(values);
    const progress = makeProgress(Boolean(values.quiet));
    const image = await openImage(positionals[0]!, { ...sourceOpenOptions(values), progress });
    try {
      const out = resolve(values.output as string);
      const result = await buildImage(image, new FileSink(out), { ...layout, progress });
      if (!values.quiet) {
        process.stdout.write(
          `${out}: ${formatBytes(result.sizeBytes)} ext4, ${formatBytes(result.stats.usedBlocks * 4096)} used, ` +
            `${result.stats.usedInodes} inodes, from ${image.manifestDigest}\n`,
        );
      }
    } finally {
      await image.close();
    }
    return 0;
  },
};
