// A per-tier latency CDF as a PNG, drawn by Debian's gnuplot (gnuplot-nox,
// installed with apt-get when missing, like the test servers' packages).
// The input is what the workers' smr_tier_latency_seconds histograms say:
// cumulative hit counts at each bucket bound, so each curve is known at the
// bucket bounds only and the lines between them are interpolation.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePackages } from '../test/helpers/services/apt.js';

/** tier -> [bucket upper bound (s), cumulative count] sorted by bound; +Inf allowed. */
export type TierBuckets = Record<string, Array<[number, number]>>;

/** Gnuplot's double-quoted string syntax. */
const quoted = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** Installs gnuplot when missing; a benchmark calls it first so a long run does not end without its plot. */
export function ensureGnuplot(): void {
  const why = ensurePackages({ gnuplot: 'gnuplot-nox' });
  if (why) throw new Error(`cannot draw the latency plot: ${why}`);
}

/**
 * Writes the PNG to `out`. Tiers without any timed hit get no curve; they
 * are listed in `untimed` (shown under the plot) with the reason the caller gives.
 */
export async function plotLatencyCdf(tiers: TierBuckets, out: string, title: string, untimed: string[]): Promise<void> {
  ensureGnuplot();
  const dir = await mkdtemp(join(tmpdir(), 'smr-cdf-'));
  try {
    const curves: string[] = [];
    for (const [tier, buckets] of Object.entries(tiers)) {
      const total = buckets.at(-1)?.[1] ?? 0;
      if (total === 0) continue;
      const rows = buckets.filter(([le]) => Number.isFinite(le)).map(([le, n]) => `${le * 1000} ${n / total}`);
      const data = join(dir, `${tier}.dat`);
      await writeFile(data, `# bound_ms fraction_of_hits\n${rows.join('\n')}\n`);
      curves.push(`${quoted(data)} using 1:2 with linespoints title ${quoted(`${tier} (${total} hits)`)}`);
    }
    if (curves.length === 0) throw new Error(`cannot draw ${out}: no tier has timed hits`);
    const script = [
      'set terminal pngcairo size 900,560 font "sans,11"',
      `set output ${quoted(out)}`,
      `set title ${quoted(title)}`,
      'set logscale x 10',
      'set xrange [0.1:2500]',
      'set yrange [0:1.02]',
      'set xlabel "chunk fetch latency (ms, log scale; points at histogram bucket bounds)"',
      'set ylabel "fraction of the tier\'s hits <= latency"',
      'set grid xtics mxtics ytics',
      'set key left top box title "tier"',
      'set bmargin 5',
      ...(untimed.length ? [`set label 1 ${quoted(`no curve: ${untimed.join('; ')}`)} at screen 0.01, screen 0.03 font "sans,9"`] : []),
      `plot ${curves.join(', \\\n  ')}`,
      '',
    ].join('\n');
    const scriptFile = join(dir, 'cdf.gp');
    await writeFile(scriptFile, script);
    const r = spawnSync('gnuplot', [scriptFile], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`gnuplot failed drawing ${out}: ${(r.stderr || r.error?.message || '').trim()}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
