import { resolve } from 'node:path';
import { Chunker } from '../chunk/chunker.js';
import { chunkFile } from '../chunk/chunk-file.js';
import { checkRecipeTarget, writeRecipe } from '../store/recipe-io.js';
import { openWritableStore } from '../store/index.js';
import { makeProgress } from '../util/progress.js';
import { parse, UsageError, type Command } from './args.js';
import { keyOption, requireStore, storeSettings, storeOption, writeOptions, writeSettings } from './chunk-options.js';
import { printChunkSummary } from './summary.js';

export const chunkCommand: Command = {
  name: 'chunk',
  help: `Usage: smr chunk IMAGE --store STORE -o RECIPE [options]

Cuts IMAGE (any file or block device) into fixed-size chunks named by the
SHA-256 of what is stored. All-zero chunks are not stored; a chunk already in
the store is not written again. The recipe lists the image's chunks.

Options:
  -o, --output RECIPE    where to write the recipe (required)
${storeOption.help}
${writeOptions.help}
${keyOption.help}
  -q, --quiet            no progress, no summary
  -h, --help             this help`,

  async run(argv) {
    const { values, positionals } = parse('chunk', argv, {
      output: { type: 'string', short: 'o' },
      quiet: { type: 'boolean', short: 'q' },
      ...storeOption.spec,
      ...writeOptions.spec,
      ...keyOption.spec,
    });
    if (positionals.length !== 1) throw new UsageError(`expected one IMAGE, got ${positionals.length} (see 'smr chunk --help')`);
    if (!values.output) throw new UsageError("-o RECIPE is required (see 'smr chunk --help')");
    checkRecipeTarget(values.output as string);
    const settings = await writeSettings(values);
    const store = await openWritableStore(requireStore(values, 'chunk'), storeSettings(values));
    const progress = makeProgress(Boolean(values.quiet));
    const chunker = new Chunker(store, { ...settings });
    const image = resolve(positionals[0]!);
    let size: number;
    let read = 0;
    try {
      size = await chunkFile(image, chunker, (n) => {
        read += n;
        progress.update({ phase: 'chunking', done: read, detail: `${chunker.stats.newChunks} new chunks` });
      });
    } catch (e) {
      await chunker.abort();
      throw e;
    } finally {
      progress.done();
    }
    const recipe = await chunker.finish(size, { reference: image });
    await store.flush?.(); // chunks durable before the recipe that names them
    await writeRecipe(values.output as string, recipe, { key: settings.key, ...storeSettings(values) });
    if (!values.quiet) printChunkSummary(values.output as string, recipe, chunker.stats, store.description);
    await store.close?.();
    return 0;
  },
};
