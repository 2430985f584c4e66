import { resolve } from 'node:path';
import { readRecipe } from '../store/recipe-io.js';
import { RecipeView } from '../blockdev/recipe-view.js';
import { StoreChunkSource } from '../blockdev/chunk-source.js';
import { FileSink } from '../sink/file-sink.js';
import { openStore } from '../store/index.js';
import { makeProgress } from '../util/progress.js';
import { parse, UsageError, type Command } from './args.js';
import { keyOption, requireStore, storeSettings, storeOption } from './chunk-options.js';
import { forEachChunk } from './each-chunk.js';

export const catCommand: Command = {
  name: 'cat',
  help: `Usage: smr cat RECIPE --store STORE [-o FILE]
       smr cat docker://REGISTRY/REPO:TAG [-o FILE]

Writes the image back from its chunks, every chunk verified. With -o the file
is sparse where the image is zero; without, the bytes go to standard output.

Options:
  -o, --output FILE      where to write (default: standard output)
${storeOption.help}
${keyOption.help}
  -q, --quiet            no progress
  -h, --help             this help`,

  async run(argv) {
    const { values, positionals } = parse('cat', argv, { output: { type: 'string', short: 'o' }, quiet: { type: 'boolean', short: 'q' }, ...storeOption.spec, ...keyOption.spec });
    if (positionals.length !== 1) throw new UsageError(`expected one RECIPE (see 'smr cat --help')`);
    const recipe = await readRecipe(positionals[0]!, { keyFile: values['key-file'] as string | undefined, ...storeSettings(values) });
    const store = await openStore(requireStore(values, 'cat', positionals), storeSettings(values));
    const view = new RecipeView(recipe, new StoreChunkSource(store));
    const progress = makeProgress(Boolean(values.quiet) || !values.output);
    let done = 0;
    if (values.output) {
      const sink = new FileSink(resolve(values.output as string));
      await sink.begin(recipe.imageSize);
      try {
        await forEachChunk(view, async (index, data) => {
          if (data) await sink.write(index * recipe.chunkSize, data);
          done += view.chunkLength(index);
          progress.update({ phase: 'writing', done, total: recipe.imageSize });
        });
        await sink.finish();
      } catch (e) {
        await sink.abort();
        throw e;
      } finally {
        progress.done();
      }
    } else {
      await forEachChunk(view, async (index, data) => {
        const out = data ?? Buffer.alloc(view.chunkLength(index));
        if (!process.stdout.write(out)) await new Promise((r) => process.stdout.once('drain', r));
      });
    }
    await store.close?.();
    return 0;
  },
};
