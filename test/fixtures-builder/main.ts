// scripts/fixtures: builds the OCI fixture images the tests use, from Debian
// bookworm packages, deterministically (same cache + same epoch = same
// bytes). Output: OUT/<image>/ (OCI layouts, tag latest), OUT/fixtures.json,
// OUT/expected/<image>.tsv (the root filesystem each image must unpack to).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../src/util/atomic-write.js';
import { note, setLog, sh, stopOnSignals, trySh } from './commands.js';
import { unmountUnder } from './debian.js';
import { lockCache } from './cache-lock.js';
import { diffTrees } from './layer-diff.js';
import { writeLayer, type LayerRecord } from './layer-tar.js';
import { MEDIA, openStore, putJson, writeLayout, type BlobStore, type Descriptor } from './oci-blobs.js';
import { INDEXES, RECIPES, type BuildContext, type ImageRecipe } from './images.js';
import { rootfsListing } from './rootfs-listing.js';

const USAGE = `usage: scripts/fixtures [-c CACHE] [--epoch N] [-v] OUT [IMAGE...]

Builds the fixture images (${[...RECIPES.map((r) => r.name), ...Object.keys(INDEXES)].join(', ')})
into OUT, or only the named ones and the images they derive from. Runs as
root on Debian 12 and needs deb.debian.org, unless the cache has everything.

  -c CACHE     downloads (apt lists, .debs, debootstrap tarball); default
               $FIXTURES_CACHE or /var/cache/smr-ci/fixture-downloads
  --epoch N    SOURCE_DATE_EPOCH: mtimes are clamped to it (default
               $SOURCE_DATE_EPOCH or 1704067200)
  -v           show the tools' output`;

interface Options {
  out: string;
  cache: string;
  epoch: number;
  verbose: boolean;
  wanted: string[];
}

function fail(message: string): never {
  process.stderr.write(`scripts/fixtures: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Partial<Options> = { cache: process.env.FIXTURES_CACHE || '/var/cache/smr-ci/fixture-downloads', epoch: Number(process.env.SOURCE_DATE_EPOCH || 1704067200), verbose: false };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a === '-c') o.cache = argv[++i] ?? fail('-c needs a directory');
    else if (a === '--epoch') o.epoch = Number(argv[++i] ?? fail('--epoch needs a number'));
    else if (a === '-v') o.verbose = true;
    else if (a.startsWith('-')) fail(`unknown option ${a} (see --help)`);
    else rest.push(a);
  }
  if (rest.length === 0) fail('no output directory given (see --help)');
  if (!Number.isInteger(o.epoch) || o.epoch! < 0) fail('--epoch must be a whole number of seconds');
  const known = new Set([...RECIPES.map((r) => r.name), ...Object.keys(INDEXES)]);
  for (const n of rest.slice(1)) if (!known.has(n)) fail(`unknown image '${n}' (known: ${[...known].join(', ')})`);
  return { ...(o as Options), out: resolve(rest[0]!), cache: resolve(o.cache!), wanted: rest.slice(1) };
}

/** The recipes to build for `wanted`, parents first. */
function selection(wanted: string[]): { images: ImageRecipe[]; indexes: string[] } {
  if (wanted.length === 0) return { images: RECIPES, indexes: Object.keys(INDEXES) };
  const names = new Set<string>();
  const add = (n: string): void => {
    if (INDEXES[n]) INDEXES[n].forEach(add);
    else {
      const r = RECIPES.find((x) => x.name === n)!;
      if (r.from) add(r.from);
      names.add(n);
    }
  };
  wanted.forEach(add);
  return { images: RECIPES.filter((r) => names.has(r.name)), indexes: wanted.filter((n) => INDEXES[n]) };
}

/**
 * rm's --one-file-system: should a chroot mount outlive its unmount, the
 * cache behind it (or /proc) is not deleted with the tree. Faster than rmSync.
 */
function removeTree(path: string): void {
  // Not sh(): the build log may be inside the tree.
  if (!trySh('rm', ['-rf', '--one-file-system', path]).ok) throw new Error(`could not remove ${path}`);
}

const rfc3339 = (epoch: number) => new Date(epoch * 1000).toISOString().replace(/\.000Z$/, 'Z');

interface Built {
  recipe: ImageRecipe;
  rootfs: string;
  layers: Array<LayerRecord & { created_by: string }>;
  history: string[];
  packages: string[];
  manifest: Descriptor;
  config: { digest: string; size: number };
}

async function buildImage(recipe: ImageRecipe, parent: Built | undefined, o: Options, store: BlobStore, work: string): Promise<Built> {
  const dir = join(work, recipe.name);
  mkdirSync(dir, { recursive: true });
  const ctx: BuildContext = { cache: o.cache, epoch: o.epoch, work: dir, arch: recipe.arch, packages: [...(parent?.packages ?? [])] };
  const layers = [...(parent?.layers ?? [])];
  const history = [...(parent?.history ?? [])];
  let rootfs = parent?.rootfs;
  for (const [i, layer] of recipe.layers.entries()) {
    note(`${recipe.name}: layer ${layers.length + 1}: ${layer.createdBy}`);
    const upper = join(dir, `rootfs-${i + 1}`);
    if (rootfs) sh('cp', ['-a', rootfs, upper]);
    else mkdirSync(upper, { mode: 0o755 });
    layer.build(upper, ctx);
    const record = await writeLayer(diffTrees(rootfs, upper, layer.opaque ?? [], o.epoch), recipe.names, o.epoch, store);
    note(`${recipe.name}: ${record.digest.slice(7, 19)} ${record.size} bytes gz, ${record.uncompressed_size} tar, ${record.stats.entries} entries, ` +
      `${record.stats.whiteouts} whiteouts, ${record.stats.opaque_dirs} opaque`);
    layers.push({ ...record, created_by: layer.createdBy });
    history.push(layer.createdBy);
    // The parent's tree stays for its listing and its other children.
    if (rootfs && rootfs.startsWith(dir)) removeTree(rootfs);
    rootfs = upper;
  }
  const created = rfc3339(o.epoch);
  const platform = { architecture: recipe.arch, os: 'linux', ...(recipe.variant ? { variant: recipe.variant } : {}) };
  const config = putJson(store, {
    created,
    ...platform,
    config: recipe.config,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diff_id) },
    history: history.map((created_by) => ({ created, created_by })),
  });
  const manifest = putJson(store, {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config: { mediaType: MEDIA.config, ...config },
    layers: layers.map((l) => ({ mediaType: MEDIA.layerGzip, digest: l.digest, size: l.size })),
  });
  return { recipe, rootfs: rootfs!, layers, history, packages: ctx.packages, manifest: { mediaType: MEDIA.manifest, ...manifest, platform }, config };
}

function packagesOf(b: Built): string[] {
  if (b.packages.length > 0) return b.packages;
  const q = trySh('dpkg-query', [`--admindir=${join(b.rootfs, 'var/lib/dpkg')}`, '-W', '-f', '${Package}=${Version}\\n']);
  return q.out.split('\n').filter(Boolean).sort();
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) fail('run as root (dpkg-deb ownership, mknod, chroot, mounts)');
  stopOnSignals();
  mkdirSync(o.cache, { recursive: true });
  const unlock = await lockCache(o.cache);
  mkdirSync(join(o.cache, 'work'), { recursive: true });
  const work = mkdtempSync(join(o.cache, 'work', 'run-'));
  try {
    setLog(join(work, 'build.log'), o.verbose);
    const store = openStore(work);
    const built = new Map<string, Built>();
    const { images, indexes } = selection(o.wanted);
    mkdirSync(join(o.out, 'expected'), { recursive: true });
    const entries: unknown[] = [];
    for (const recipe of images) {
      const b = await buildImage(recipe, recipe.from ? built.get(recipe.from) : undefined, o, store, work);
      built.set(recipe.name, b);
      writeLayout(store, b.manifest, join(o.out, recipe.name));
      writeFileSync(join(o.out, 'expected', `${recipe.name}.tsv`), rootfsListing(b.rootfs, o.epoch));
      const packages = packagesOf(b);
      writeFileSync(join(o.out, 'expected', `${recipe.name}.packages`), packages.join('\n') + '\n');
      entries.push({
        name: recipe.name,
        arch: recipe.arch,
        ...(recipe.variant ? { variant: recipe.variant } : {}),
        manifest: { digest: b.manifest.digest, size: b.manifest.size },
        config: b.config,
        layers: b.layers,
        packages: packages.length,
      });
    }
    for (const name of indexes) {
      const manifests = INDEXES[name]!.map((n) => built.get(n)!.manifest);
      const index = putJson(store, { schemaVersion: 2, mediaType: MEDIA.index, manifests });
      writeLayout(store, { mediaType: MEDIA.index, ...index }, join(o.out, name));
      entries.push({ name, index: { digest: index.digest, size: index.size }, manifests: manifests.map((m) => ({ digest: m.digest, platform: m.platform })) });
    }
    const json = join(o.out, 'fixtures.json');
    await writeFileAtomic(json, JSON.stringify({ source_date_epoch: o.epoch, images: entries }, null, 1) + '\n', { sync: 'data' });
    note(`done: ${o.out}`);
  } finally {
    unmountUnder(work);
    try {
      removeTree(work);
    } finally {
      await unlock();
    }
  }
}

main().catch((err: unknown) => {
  fail(err instanceof Error ? err.message : String(err));
});
