import { readFile } from 'node:fs/promises';
import { isRemoteRecipe, readRecipe } from '../store/recipe-io.js';
import { ENCRYPTED_RECIPE_MEDIA_TYPE } from '../chunk/types.js';
import { formatBytes } from '../util/progress.js';
import { parse, UsageError, type Command } from './args.js';
import { keyOption, remoteOption, storeSettings } from './chunk-options.js';

export const inspectCommand: Command = {
  name: 'inspect',
  help: `Usage: smr inspect RECIPE [--key-file FILE] [--json]

Options:
      --json             the whole recipe as JSON (keys omitted)
${keyOption.help}
${remoteOption.help}
  -h, --help             this help`,

  async run(argv) {
    const { values, positionals } = parse('inspect', argv, { json: { type: 'boolean' }, ...keyOption.spec, ...remoteOption.spec });
    if (positionals.length !== 1) throw new UsageError(`expected one RECIPE (see 'smr inspect --help')`);
    const path = positionals[0]!;
    const keyFile = values['key-file'] as string | undefined;
    if (!keyFile && !isRemoteRecipe(path)) {
      // Say what we can about an encrypted recipe without its key.
      let head: { mediaType?: string } = {};
      try {
        head = JSON.parse((await readFile(path)).subarray(0, 1 << 20).toString('utf8')) as { mediaType?: string };
      } catch {
        /* readRecipe below gives the real error (or the recipe is remote) */
      }
      if (head.mediaType === ENCRYPTED_RECIPE_MEDIA_TYPE) {
        process.stdout.write(`${path}: encrypted recipe (give --key-file to see its content)\n`);
        return 0;
      }
    }
    const r = await readRecipe(path, { keyFile, ...storeSettings(values) });
    if (values.json) {
      const plain = { ...r, chunks: r.chunks.map((c) => ({ index: c.index, digest: c.digest, storedLength: c.storedLength })) };
      process.stdout.write(`${JSON.stringify(plain, null, 2)}\n`);
      return 0;
    }
    const stored = r.chunks.reduce((n, c) => n + c.storedLength, 0);
    const total = Math.ceil(r.imageSize / r.chunkSize);
    const distinct = new Set(r.chunks.map((c) => c.digest)).size;
    process.stdout.write(
      [
        `recipe:      ${path} (${r.mediaType}, version ${r.version})`,
        `source:      ${r.source.reference ?? '-'}${r.source.platform ? ` (${r.source.platform})` : ''}`,
        `manifest:    ${r.source.manifestDigest ?? '-'}`,
        `image size:  ${r.imageSize} bytes (${formatBytes(r.imageSize)})`,
        `chunk size:  ${formatBytes(r.chunkSize)}`,
        `chunks:      ${total} in all, ${r.chunks.length} stored (${distinct} distinct), ${total - r.chunks.length} all-zero`,
        `stored:      ${formatBytes(stored)} (${((100 * stored) / Math.max(1, r.imageSize)).toFixed(1)}% of the image)`,
        `encoding:    compression ${r.encoding.compression}, encryption ${r.encoding.encryption}`,
      ].join('\n') + '\n',
    );
    return 0;
  },
};
