// smr copy: moves an image's chunks between stores (a CI build's dir store
// to each region's bucket), copying only what the destination lacks, many
// at a time. Every chunk is verified on the way (remote stores check the
// digest on read, and S3 again before it uploads). An interrupted copy is
// resumed by running it again: what arrived is skipped.
import { loadKeyFile } from '../chunk/keys.js';
import { openStore, openWritableStore } from '../store/index.js';
import { checkRecipeTarget, linkRegistryStores, pushRecipeToStore, readRecipe, writeRecipe } from '../store/recipe-io.js';
import { forEachBounded } from '../util/bounded.js';
import { formatBytes, makeProgress } from '../util/progress.js';
import { parse, UsageError, type Command } from './args.js';
import { keyOption, remoteOption, storeSettings } from './chunk-options.js';

export const copyCommand: Command = {
  name: 'copy',
  help: `Usage: smr copy RECIPE --from STORE --to STORE [-o RECIPE] [options]

Copies the chunks RECIPE names from one store to another, skipping those the
destination already holds, several in parallel. Run it again after an
interruption: it carries on where it stopped. With -o, the recipe is written
there (a path or s3://BUCKET/KEY) once every chunk is in the destination.

Options:
      --from STORE       where the chunks are (dir:PATH, s3://..., http(s)://...)
      --to STORE         where they go (dir:PATH, s3://BUCKET[/PREFIX], or
                         docker://REGISTRY/REPO: chunks mounted from a --from
                         repository of the same registry, recipe pushed too)
  -o, --output RECIPE    also write the recipe here, after the chunks
  -j, --jobs N           chunks in flight (default 16)
${remoteOption.help}
${keyOption.help}
  -q, --quiet            no progress or summary
  -h, --help             this help`,

  async run(argv) {
    const { values, positionals } = parse('copy', argv, {
      from: { type: 'string' },
      to: { type: 'string' },
      output: { type: 'string', short: 'o' },
      jobs: { type: 'string', short: 'j' },
      quiet: { type: 'boolean', short: 'q' },
      ...remoteOption.spec,
      ...keyOption.spec,
    });
    if (positionals.length !== 1) throw new UsageError(`expected one RECIPE (see 'smr copy --help')`);
    if (!values.from || !values.to) throw new UsageError("--from STORE and --to STORE are required (see 'smr copy --help')");
    const jobs = values.jobs !== undefined ? Number(values.jobs) : 16;
    if (!Number.isInteger(jobs) || jobs < 1 || jobs > 256) throw new UsageError('--jobs: a number from 1 to 256');
    const settings = storeSettings(values);
    if (values.output) checkRecipeTarget(values.output as string);
    const keyFile = values['key-file'] as string | undefined;
    const recipe = await readRecipe(positionals[0]!, { keyFile, ...settings });
    const key = keyFile ? await loadKeyFile(keyFile) : undefined;
    const from = await openStore(values.from as string, settings);
    const to = await openWritableStore(values.to as string, settings);
    linkRegistryStores(from, to);
    const sizes = new Map(recipe.chunks.map((c) => [c.digest, c.storedLength]));
    const names = [...sizes.keys()];
    const progress = makeProgress(Boolean(values.quiet));
    const r = { copied: 0, copiedBytes: 0, skipped: 0, skippedBytes: 0 };
    const copyOne = async (name: string) => {
      // A present chunk is not fetched at all: that is what makes a re-run cheap.
      if (await to.has(name)) {
        r.skipped++;
        r.skippedBytes += sizes.get(name)!;
      } else if (await mountInto(to, name)) {
        // A registry took it from the source repository: no bytes moved through here.
        r.copied++;
        r.copiedBytes += sizes.get(name)!;
      } else {
        const data = await from.get(name);
        if (data.length !== sizes.get(name)) {
          throw new UsageError(`${from.description} holds chunk ${name} with ${data.length} bytes, but the recipe says ${sizes.get(name)}: not this recipe's store?`);
        }
        await to.put(name, data);
        r.copied++;
        r.copiedBytes += data.length;
      }
      progress.update({ phase: 'copying', done: r.copied + r.skipped, total: names.length, unit: 'items', detail: `${formatBytes(r.copiedBytes)} copied` });
    };
    try {
      // The first failure stops every worker before the stores close.
      await forEachBounded(names, jobs, copyOne);
      await to.flush?.(); // chunks durable before a recipe names them
      const pushed = await pushRecipeToStore(to, recipe, { key });
      if (pushed && !values.quiet) process.stdout.write(`recipe pushed as ${pushed.reference}${pushed.tag ? ` (tag ${pushed.tag})` : ''}\n`);
    } finally {
      progress.done();
      await from.close?.();
      await to.close?.();
    }
    if (values.output) await writeRecipe(values.output as string, recipe, { key, ...settings });
    if (!values.quiet) {
      process.stdout.write(
        `copied ${r.copied} chunks (${formatBytes(r.copiedBytes)}) from ${from.description} to ${to.description}${mountedNote(to)}; ` +
          `skipped ${r.skipped} already there (${formatBytes(r.skippedBytes)})\n`,
      );
    }
    return 0;
  },
};

/** A destination that can take a chunk without its bytes (a registry's cross-repository mount). */
function mountInto(store: object, name: string): Promise<boolean> {
  const mount = (store as { mount?: (name: string) => Promise<boolean> }).mount;
  return typeof mount === 'function' ? mount.call(store, name) : Promise.resolve(false);
}

/** How many chunks a registry destination mounted rather than received. */
function mountedNote(store: object): string {
  const n = (store as { mounted?: number }).mounted;
  return n ? ` (${n} by cross-repository mount)` : '';
}
