import { readRecipe } from '../store/recipe-io.js';
import { openCollectableStore } from '../store/index.js';
import { DEFAULT_GRACE_MS, gc } from '../store/gc.js';
import { formatBytes, makeProgress } from '../util/progress.js';
import { parse, UsageError, type Command } from './args.js';
import { keyOption, requireStore, storeSettings, storeOption } from './chunk-options.js';

const DURATION = /^(\d+)\s*(ms|s|m|h|d)?$/;
const UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function parseDuration(text: string, what: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new UsageError(`${what}: '${text}' is not a duration (examples: 30s, 15m, 1h, 2d)`);
  return Number(m[1]) * UNIT[m[2] ?? 's']!;
}

export const gcCommand: Command = {
  name: 'gc',
  help: `Usage: smr gc --store STORE --keep RECIPE [--keep RECIPE...] [options]

Deletes the chunks of STORE that none of the kept recipes references and that
nobody has written or re-used for the grace period. A convert that runs at the
same time refreshes the chunks it re-uses and writes new ones, so it never
loses a chunk to gc as long as it finishes within the grace period.

Options:
      --keep RECIPE      a recipe whose chunks stay (repeat for several)
      --grace DURATION   keep unreferenced chunks younger than this (default 1h)
      --dry-run          only count what would be deleted
${storeOption.help}
${keyOption.help}
  -q, --quiet            no progress, no summary
  -h, --help             this help`,

  async run(argv) {
    const { values, positionals } = parse('gc', argv, {
      keep: { type: 'string', multiple: true },
      grace: { type: 'string' },
      'dry-run': { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
      ...storeOption.spec,
      ...keyOption.spec,
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (recipes go after --keep)`);
    const keepFiles = (values.keep as string[] | undefined) ?? [];
    if (keepFiles.length === 0) throw new UsageError('give at least one --keep RECIPE (gc with nothing to keep would empty the store)');
    const graceMs = values.grace !== undefined ? parseDuration(values.grace as string, '--grace') : DEFAULT_GRACE_MS;
    const keyFile = values['key-file'] as string | undefined;
    const keep = new Set<string>();
    for (const f of keepFiles) for (const c of (await readRecipe(f, { keyFile, ...storeSettings(values) })).chunks) keep.add(c.digest);
    const store = await openCollectableStore(requireStore(values, 'gc'), storeSettings(values));
    const progress = makeProgress(Boolean(values.quiet));
    const r = await gc(store, keep, { graceMs, dryRun: Boolean(values['dry-run']), onProgress: (done) => progress.update({ phase: 'scanning chunks', done, unit: 'items' }) });
    progress.done();
    await store.close?.();
    if (!values.quiet) {
      process.stdout.write(
        `${values['dry-run'] ? 'would delete' : 'deleted'} ${r.deleted} chunks (${formatBytes(r.deletedBytes)}); ` +
          `kept ${r.kept} referenced and ${r.young} younger than the grace period\n`,
      );
    }
    return 0;
  },
};
