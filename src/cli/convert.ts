import { openImage } from '../oci/index.js';
import { convertImage } from '../image/convert-image.js';
import { checkRecipeTarget, pushRecipeToStore, storeTakesRecipes, writeRecipe } from '../store/recipe-io.js';
import { openWritableStore } from '../store/index.js';
import { makeProgress } from '../util/progress.js';
import { parse, UsageError, type Command } from './args.js';
import { layoutBuildOptions, layoutOptions } from './layout-options.js';
import { keyOption, requireStore, storeSettings, storeOption, writeOptions, writeSettings } from './chunk-options.js';
import { SOURCE_HELP, sourceOpenOptions, sourceOptions } from './source-options.js';
import { printChunkSummary } from './summary.js';

export const convertCommand: Command = {
  name: 'convert',
  help: `Usage: smr convert SOURCE --store STORE -o RECIPE [options]
       smr convert SOURCE --store docker://REGISTRY/REPO [-o RECIPE] [options]

'smr build' and 'smr chunk' in one pass: the ext4 image is cut into chunks as
it is written, so no image file exists on disk at any time. Into a registry,
the chunks become blobs of REPO and the recipe an artifact whose subject is
the source image: 'smr serve docker://REGISTRY/REPO:TAG' then needs nothing
else (see the README's Stores section for the size limit this implies).

${SOURCE_HELP}

Options:
  -o, --output RECIPE    where to write the recipe (required unless the store
                         is a registry)
${storeOption.help}
${layoutOptions.help}
${writeOptions.help}
${keyOption.help}
${sourceOptions.help}
  -q, --quiet            no progress, no summary
  -h, --help             this help`,

  async run(argv) {
    const { values, positionals } = parse('convert', argv, {
      output: { type: 'string', short: 'o' },
      quiet: { type: 'boolean', short: 'q' },
      ...storeOption.spec,
      ...writeOptions.spec,
      ...keyOption.spec,
      ...layoutOptions.spec,
      ...sourceOptions.spec,
    });
    if (positionals.length !== 1) throw new UsageError(`expected one SOURCE, got ${positionals.length} (see 'smr convert --help')`);
    const storeUri = requireStore(values, 'convert');
    if (!values.output && !storeTakesRecipes(storeUri)) throw new UsageError("-o RECIPE is required (see 'smr convert --help')");
    if (values.output) checkRecipeTarget(values.output as string);
    const settings = await writeSettings(values);
    const layout = layoutBuildOptions(values);
    const store = await openWritableStore(storeUri, storeSettings(values));
    const progress = makeProgress(Boolean(values.quiet));
    const image = await openImage(positionals[0]!, { ...sourceOpenOptions(values), progress });
    try {
      const { recipe, stats } = await convertImage(image, store, settings, layout, progress);
      const pushed = await pushRecipeToStore(store, recipe, { key: settings.key, subject: image.manifestDescriptor });
      if (values.output) await writeRecipe(values.output as string, recipe, { key: settings.key, ...storeSettings(values) });
      const where = [values.output as string | undefined, pushed?.reference].filter(Boolean).join(' and ');
      if (!values.quiet) printChunkSummary(where, recipe, stats, store.description);
    } finally {
      await image.close();
      await store.close?.();
    }
    return 0;
  },
};
