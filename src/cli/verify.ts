import { open } from 'node:fs/promises';
import { randomInt } from 'node:crypto';
import { readRecipe } from '../store/recipe-io.js';
import { RecipeView } from '../blockdev/recipe-view.js';
import { StoreChunkSource } from '../blockdev/chunk-source.js';
import { LruKCache } from '../cache/lru-k.js';
import { TieredChunkSource } from '../cache/tiered-source.js';
import { openStore } from '../store/index.js';
import { isSmrError, SmrError } from '../util/errors.js';
import { forEachBounded } from '../util/bounded.js';
import { describeReadError } from '../util/fs-errors.js';
import { makeProgress } from '../util/progress.js';
import { parse, UsageError, type Command } from './args.js';
import { keyOption, requireStore, storeSettings, storeOption } from './chunk-options.js';

const CONCURRENCY = 8;
const REMOTE_CACHE_BYTES = 512 << 20;

export const verifyCommand: Command = {
  name: 'verify',
  help: `Usage: smr verify RECIPE --store STORE [--image RAW] [--reads N]
       smr verify docker://REGISTRY/REPO:TAG [--image RAW] [--reads N]

Checks every chunk: present in the store, decodable, matching its digest. With
--image, the recipe's view must equal the raw image byte for byte, and N random
reads (random offsets and lengths, across chunk boundaries and zero areas) are
compared one by one. Exits 1 and lists the problems when anything differs.

Options:
      --image RAW        compare with this raw image
      --reads N          random reads to compare (default 1000 with --image)
${storeOption.help}
${keyOption.help}
  -q, --quiet            no progress, no summary
  -h, --help             this help`,

  async run(argv) {
    const { values, positionals } = parse('verify', argv, {
      image: { type: 'string' },
      reads: { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
      ...storeOption.spec,
      ...keyOption.spec,
    });
    if (positionals.length !== 1) throw new UsageError(`expected one RECIPE (see 'smr verify --help')`);
    const reads = values.reads !== undefined ? Number(values.reads) : values.image ? 1000 : 0;
    if (!Number.isSafeInteger(reads) || reads < 0) throw new UsageError(`--reads: '${values.reads}' is not a count`);
    const recipe = await readRecipe(positionals[0]!, { keyFile: values['key-file'] as string | undefined, ...storeSettings(values) });
    const store = await openStore(requireStore(values, 'verify', positionals), storeSettings(values));
    // A remote store would be asked again for every random read: keep what
    // the first pass fetched (verified once, on arrival) in memory.
    const source = store.remote ? new TieredChunkSource(store, { memory: new LruKCache<Buffer>({ maxBytes: REMOTE_CACHE_BYTES }) }) : new StoreChunkSource(store);
    const view = new RecipeView(recipe, source);
    const progress = makeProgress(Boolean(values.quiet));
    const problems: string[] = [];
    const note = (msg: string) => {
      problems.push(msg);
      if (problems.length <= 20) process.stderr.write(`smr verify: ${msg}\n`);
    };

    // 1. Every stored chunk.
    let checked = 0;
    await forEachBounded(recipe.chunks, CONCURRENCY, async (c) => {
      try {
        await view.chunkData(c.index);
      } catch (e) {
        if (!isSmrError(e)) throw e;
        note(`chunk ${c.index} (${c.digest.slice(0, 12)}…): ${e.message}`);
      }
      progress.update({ phase: 'checking chunks', done: ++checked, total: recipe.chunks.length, unit: 'items' });
    });
    progress.done();

    // 2. Against the raw image.
    if (values.image && problems.length === 0) {
      const fh = await open(values.image as string, 'r').catch((e: unknown) => {
        throw new SmrError('INPUT_NOT_FOUND', `cannot open ${values.image}: ${describeReadError(e)}`);
      });
      try {
        const size = (await fh.stat()).size;
        if (size !== recipe.imageSize) note(`image size ${size} differs from the recipe's ${recipe.imageSize}`);
        const a = Buffer.alloc(recipe.chunkSize);
        const b = Buffer.alloc(recipe.chunkSize);
        for (let i = 0; i < view.chunkCount && problems.length === 0; i++) {
          const len = view.chunkLength(i);
          await view.readAt(a.subarray(0, len), i * recipe.chunkSize);
          await readFully(fh, b.subarray(0, len), i * recipe.chunkSize);
          if (!a.subarray(0, len).equals(b.subarray(0, len))) note(`chunk ${i} differs from the image`);
          progress.update({ phase: 'comparing', done: (i + 1) * recipe.chunkSize, total: recipe.imageSize });
        }
        for (let r = 0; r < reads && problems.length === 0; r++) {
          const { offset, length } = randomRead(recipe.imageSize, recipe.chunkSize);
          const x = Buffer.alloc(length);
          const y = Buffer.alloc(length);
          const n = await view.readAt(x, offset);
          await readFully(fh, y.subarray(0, n), offset);
          if (n !== Math.min(length, recipe.imageSize - offset) || !x.equals(y)) note(`random read ${r}: ${length} bytes at ${offset} differ`);
        }
      } finally {
        await fh.close();
        progress.done();
      }
    }
    await store.close?.();
    if (problems.length > 0) {
      throw new SmrError('VERIFY_FAILED', `${problems.length} problem${problems.length === 1 ? '' : 's'} in ${positionals[0]}`);
    }
    if (!values.quiet) {
      process.stdout.write(`${positionals[0]}: ${recipe.chunks.length} chunks verified${values.image ? `; equal to ${values.image} (${reads} random reads)` : ''}\n`);
    }
    return 0;
  },
};

async function readFully(fh: import('node:fs/promises').FileHandle, buf: Buffer, pos: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesRead } = await fh.read(buf, off, buf.length - off, pos + off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  buf.fill(0, off);
}

/** Random reads that start and end anywhere, often straddling chunk boundaries. */
function randomRead(size: number, chunkSize: number): { offset: number; length: number } {
  const kind = randomInt(4);
  let offset: number;
  if (kind === 0) {
    // right around a chunk boundary
    const boundary = randomInt(Math.max(1, Math.floor(size / chunkSize))) * chunkSize;
    offset = Math.max(0, boundary - randomInt(1, 4097));
  } else {
    offset = randomInt(Math.max(1, size));
  }
  const maxLen = kind === 3 ? 3 * chunkSize : 64 * 1024;
  const length = Math.max(1, Math.min(randomInt(1, maxLen + 1), size - offset));
  return { offset, length };
}
