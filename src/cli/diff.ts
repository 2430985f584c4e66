import { readRecipe } from '../store/recipe-io.js';
import type { Recipe } from '../chunk/types.js';
import { formatBytes } from '../util/progress.js';
import { parse, UsageError, type Command } from './args.js';
import { keyOption, remoteOption, storeSettings } from './chunk-options.js';

export interface RecipeDiff {
  a: { chunks: number; distinct: number; storedBytes: number; imageSize: number };
  b: { chunks: number; distinct: number; storedBytes: number; imageSize: number };
  shared: { distinct: number; plainBytes: number; storedBytes: number };
  /** What B adds to a store that already holds A. */
  bAdds: { chunks: number; storedBytes: number; plainBytes: number };
}

function distinct(r: Recipe): Map<string, { stored: number; plain: number }> {
  const m = new Map<string, { stored: number; plain: number }>();
  for (const c of r.chunks) {
    m.set(c.digest, { stored: c.storedLength, plain: Math.min(r.chunkSize, r.imageSize - c.index * r.chunkSize) });
  }
  return m;
}

function diffRecipes(a: Recipe, b: Recipe): RecipeDiff {
  const da = distinct(a);
  const db = distinct(b);
  const sum = (m: Map<string, { stored: number; plain: number }>, k: 'stored' | 'plain') => [...m.values()].reduce((n, v) => n + v[k], 0);
  const shared = { distinct: 0, plainBytes: 0, storedBytes: 0 };
  const adds = { chunks: 0, storedBytes: 0, plainBytes: 0 };
  for (const [d, v] of db) {
    if (da.has(d)) {
      shared.distinct++;
      shared.plainBytes += v.plain;
      shared.storedBytes += v.stored;
    } else {
      adds.chunks++;
      adds.storedBytes += v.stored;
      adds.plainBytes += v.plain;
    }
  }
  return {
    a: { chunks: a.chunks.length, distinct: da.size, storedBytes: sum(da, 'stored'), imageSize: a.imageSize },
    b: { chunks: b.chunks.length, distinct: db.size, storedBytes: sum(db, 'stored'), imageSize: b.imageSize },
    shared,
    bAdds: adds,
  };
}

export const diffCommand: Command = {
  name: 'diff',
  help: `Usage: smr diff A B [--json] [--key-file FILE]

Compares the chunks of two recipes: chunks and distinct chunks in each,
distinct chunks and bytes shared (uncompressed and stored), and what B adds to
a store that already holds A.

Options:
      --json             machine-readable output
${keyOption.help}
${remoteOption.help}
  -h, --help             this help`,

  async run(argv) {
    const { values, positionals } = parse('diff', argv, { json: { type: 'boolean' }, ...keyOption.spec, ...remoteOption.spec });
    if (positionals.length !== 2) throw new UsageError(`expected two recipes A and B, got ${positionals.length} (see 'smr diff --help')`);
    const keyFile = values['key-file'] as string | undefined;
    const [a, b] = await Promise.all(positionals.map((p) => readRecipe(p, { keyFile, ...storeSettings(values) })));
    const d = diffRecipes(a!, b!);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
      return 0;
    }
    const pct = (x: number, y: number) => (y === 0 ? '-' : `${((100 * x) / y).toFixed(1)}%`);
    const [pa, pb] = positionals as [string, string];
    process.stdout.write(
      [
        `A ${pa}: ${d.a.chunks} chunks, ${d.a.distinct} distinct, ${formatBytes(d.a.storedBytes)} stored, image ${formatBytes(d.a.imageSize)}`,
        `B ${pb}: ${d.b.chunks} chunks, ${d.b.distinct} distinct, ${formatBytes(d.b.storedBytes)} stored, image ${formatBytes(d.b.imageSize)}`,
        `shared: ${d.shared.distinct} distinct chunks (${pct(d.shared.distinct, d.a.distinct)} of A, ${pct(d.shared.distinct, d.b.distinct)} of B), ` +
          `${formatBytes(d.shared.plainBytes)} uncompressed, ${formatBytes(d.shared.storedBytes)} stored`,
        `B adds to a store holding A: ${d.bAdds.chunks} chunks, ${formatBytes(d.bAdds.storedBytes)} stored (${formatBytes(d.bAdds.plainBytes)} uncompressed)`,
      ].join('\n') + '\n',
    );
    return 0;
  },
};
