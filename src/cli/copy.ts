// smr copy: moves an image's chunks between stores (a CI build's dir store
// to each region's bucket), copying only what the destination lacks, many
// at a time. Every chunk is verified on the way (remote stores check the
// digest on read, and S3 again before it uploads). An interrupted copy is
// resumed by running it again: what arrived is skipped. With --level or
// --compression the chunks are re-encoded on the way (recompress.ts).
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DEFAULT_LEVEL } from '../chunk/compress.js';
import { loadKeyFile } from '../chunk/keys.js';
import type { Recipe } from '../chunk/types.js';
import { openStore, openWritableStore } from '../store/index.js';
import { checkRecipeTarget, isRemoteRecipe, linkRegistryStores, pushRecipeToStore, readRecipe, storeTakesRecipes, writeRecipe } from '../store/recipe-io.js';
import { isRegistryUri } from '../store/registry/registry-uri.js';
import type { AnyStore, ChunkWriter } from '../store/types.js';
import { forEachBounded } from '../util/bounded.js';
import { isSmrError } from '../util/errors.js';
import type { ProgressSink } from '../util/progress-sink.js';
import { formatBytes, makeProgress } from '../util/progress.js';
import { parse, UsageError, type Command } from './args.js';
import { compressionOptions, compressionSettings, keyOption, remoteOption, storeSettings } from './chunk-options.js';
import { distinctStoredBytes, recompress, ReencodeMemo } from './recompress.js';

export const copyCommand: Command = {
  name: 'copy',
  help: `Usage: smr copy RECIPE --from STORE --to STORE [-o RECIPE] [options]
       smr copy RECIPE --from STORE --to STORE --level N -o NEW_RECIPE [options]
       smr copy RECIPE... --from STORE --to STORE [--level N] -o DIR [options]

Copies the chunks RECIPE names from one store to another, skipping those the
destination already holds, several in parallel. Run it again after an
interruption: it carries on where it stopped. With -o, the recipe is written
there (a path or s3://BUCKET/KEY) once every chunk is in the destination.

With --level or --compression, the chunks are re-encoded on the way: each is
read, checked and decoded, compressed again (same encryption, salt and keys;
new names) and put into the destination, which then holds a new recipe's
chunks: -o NEW_RECIPE is required, unless --to is a registry, which gets the
new recipe pushed. This is the place for a slow level: convert once at the
fast default, publish with 'smr copy --level 19' (about a fifth fewer bytes
to store and fetch, decoded as fast; see docs/recipe.md). A re-run re-encodes
again but uploads only what the destination lacks.

Several RECIPEs are copied one after another into the same destination; -o
is then a directory (a path, or s3://BUCKET/PREFIX/) that gets each new
recipe under its own file name. Re-encoding images that share a base, a
chunk they share is encoded once, for the first recipe that names it.

Options:
      --from STORE       where the chunks are (dir:PATH, s3://..., http(s)://...)
      --to STORE         where they go (dir:PATH, s3://BUCKET[/PREFIX], or
                         docker://REGISTRY/REPO: chunks mounted from a --from
                         repository of the same registry, recipe pushed too)
  -o, --output RECIPE    also write the recipe here, after the chunks (with
                         several RECIPEs: a directory)
  -j, --jobs N           chunks in flight (default 16)
${compressionOptions.help}
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
      ...compressionOptions.spec,
      ...remoteOption.spec,
      ...keyOption.spec,
    });
    if (positionals.length === 0) throw new UsageError(`expected a RECIPE (see 'smr copy --help')`);
    if (!values.from || !values.to) throw new UsageError("--from STORE and --to STORE are required (see 'smr copy --help')");
    const jobs = values.jobs !== undefined ? Number(values.jobs) : 16;
    if (!Number.isInteger(jobs) || jobs < 1 || jobs > 256) throw new UsageError('--jobs: a number from 1 to 256');
    const reencode = values.level !== undefined || values.compression !== undefined ? compressionSettings(values) : undefined;
    // The re-encoded chunks have new names: without a recipe they are garbage.
    if (reencode && !values.output && !storeTakesRecipes(values.to as string)) {
      throw new UsageError("--level/--compression give new chunk names: -o NEW_RECIPE is required (see 'smr copy --help')");
    }
    const settings = storeSettings(values);
    const several = positionals.length > 1;
    const outputs = values.output ? outputTargets(positionals, values.output as string) : undefined;
    const keyFile = values['key-file'] as string | undefined;
    const recipes: Recipe[] = [];
    for (const uri of positionals) recipes.push(await readRecipe(uri, { keyFile, ...settings }));
    const key = keyFile ? await loadKeyFile(keyFile) : undefined;
    const from = await openStore(values.from as string, settings);
    const to = await openWritableStore(values.to as string, settings);
    const progress = makeProgress(Boolean(values.quiet));
    // Chunks shared by the recipes are re-encoded once, for the first.
    const memo = new ReencodeMemo();
    try {
      if (outputs && several && !isRemoteRecipe(values.output as string)) await makeOutputDir(values.output as string);
      for (const [i, recipe] of recipes.entries()) {
        const which = several ? ` ${i + 1}/${positionals.length}` : '';
        let copied: Recipe;
        let summary: string;
        if (reencode) {
          const { recipe: out, stats, reused } = await recompress(recipe, from, to, {
            ...reencode,
            ahead: jobs,
            memo,
            onProgress: (done, st) =>
              progress.update({ phase: `re-encoding${which}`, done, total: recipe.chunks.length, unit: 'items', detail: `${st.newChunks} new (${formatBytes(st.newStoredBytes)})` }),
          });
          copied = out;
          const c = reencode.compression;
          const level = c === 'none' ? '' : ` ${reencode.level ?? DEFAULT_LEVEL[c]}`;
          summary =
            `re-encoded ${stats.chunks - stats.zeroChunks - reused} chunks at ${c}${level}: ` +
            `${formatBytes(distinctStoredBytes(recipe))} -> ${formatBytes(distinctStoredBytes(out))}; ` +
            `${stats.newChunks} new chunks (${formatBytes(stats.newStoredBytes)}) written to ${to.description}` +
            (reused > 0 ? `; ${reused} shared with the recipes before it, not encoded again` : '');
        } else {
          copied = recipe;
          summary = await copyChunks(recipe, from, to, jobs, progress, which);
        }
        await to.flush?.(); // chunks durable before a recipe names them
        const pushed = await pushRecipeToStore(to, copied, { key });
        if (outputs) await writeRecipe(outputs[i]!, copied, { key, ...settings });
        if (values.quiet) continue;
        progress.done();
        if (pushed) process.stdout.write(`recipe pushed as ${pushed.reference}${pushed.tag ? ` (tag ${pushed.tag})` : ''}\n`);
        process.stdout.write(`${several ? `${positionals[i]}: ` : ''}${summary}\n`);
      }
    } finally {
      progress.done();
      await from.close?.();
      await to.close?.();
    }
    return 0;
  },
};

/**
 * Where each new recipe is written. One RECIPE: -o itself. Several: -o is a
 * directory, a path or s3://BUCKET/PREFIX/, and each recipe keeps its file
 * name there (a registry image has none to keep).
 */
function outputTargets(recipes: string[], output: string): string[] {
  if (recipes.length === 1) {
    checkRecipeTarget(output);
    return [output];
  }
  if (isRemoteRecipe(output) && !output.startsWith('s3://')) throw new UsageError(`-o ${output}: with several RECIPEs, -o is a directory or s3://BUCKET/PREFIX/`);
  const seen = new Set<string>();
  return recipes.map((uri) => {
    const name = recipeFileName(uri);
    if (name === undefined) throw new UsageError(`${uri} has no file name to write its new recipe under in ${output}: copy it on its own, with -o RECIPE`);
    if (seen.has(name)) throw new UsageError(`two RECIPEs are named ${name}: their new recipes would overwrite each other in ${output}`);
    seen.add(name);
    const target = output.startsWith('s3://') ? `${output.replace(/\/?$/, '/')}${name}` : join(output, name);
    checkRecipeTarget(target);
    return target;
  });
}

/** The last part of a recipe's path or URL; undefined for a registry image. */
function recipeFileName(uri: string): string | undefined {
  if (isRegistryUri(uri)) return undefined;
  const path = /^[a-z][a-z0-9+.-]*:\/\//i.test(uri) ? new URL(uri).pathname : uri;
  const name = basename(path);
  return name === '' || name === '.' || name === '..' ? undefined : name;
}

async function makeOutputDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new UsageError(`-o ${dir}: cannot make the directory for the recipes: ${(e as Error).message}`);
  }
}

/** The chunks' bytes, unchanged, into `to`; returns the summary line. */
async function copyChunks(recipe: Recipe, from: AnyStore, to: AnyStore & ChunkWriter, jobs: number, progress: ProgressSink, which = ''): Promise<string> {
  linkRegistryStores(from, to);
  const sizes = new Map(recipe.chunks.map((c) => [c.digest, c.storedLength]));
  const names = [...sizes.keys()];
  const r = { copied: 0, copiedBytes: 0, skipped: 0, skippedBytes: 0 };
  const copyOne = async (name: string) => {
    // A present chunk is not fetched at all: that is what makes a re-run cheap.
    if (await hasChunk(to, name)) {
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
    progress.update({ phase: `copying${which}`, done: r.copied + r.skipped, total: names.length, unit: 'items', detail: `${formatBytes(r.copiedBytes)} copied` });
  };
  // The first failure stops every worker before the stores close.
  await forEachBounded(names, jobs, copyOne);
  return (
    `copied ${r.copied} chunks (${formatBytes(r.copiedBytes)}) from ${from.description} to ${to.description}${mountedNote(to)}; ` +
    `skipped ${r.skipped} already there (${formatBytes(r.skippedBytes)})`
  );
}

/**
 * Whether the destination holds the chunk. A destination dir store that does
 * not exist yet holds nothing: the first put creates it, as convert's does.
 */
async function hasChunk(store: AnyStore, name: string): Promise<boolean> {
  try {
    return await store.has(name);
  } catch (e) {
    if (isSmrError(e) && e.code === 'STORE_NOT_FOUND') return false;
    throw e;
  }
}

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
