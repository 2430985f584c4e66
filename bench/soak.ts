// bench/soak: the chaos soak (test/helpers/soak.ts) for a set time against a
// throwaway Ceph RGW (or the one in SMR_TEST_SERVICE_S3), printing what it
// counted. Usage: node dist/bench/soak.js [--seconds N] [--image NAME]
// [--hostile N] [--rounds N] [--seed N]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fixtureLayout } from '../test/helpers/fixtures.js';
import { envVarOf, STARTERS } from '../test/helpers/services/service.js';
import { runSoak, type SoakReport } from '../test/helpers/soak.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '600' },
    image: { type: 'string', default: 'debian-python' },
    hostile: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '20' },
    seed: { type: 'string', default: '11' },
  },
});
const num = (name: keyof typeof values) => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`bench/soak: --${name}: a whole number, not '${values[name]}'\n`);
    process.exit(2);
  }
  return n;
};
const seconds = num('seconds');

function print(r: SoakReport): void {
  const h = r.honest;
  const lines = [
    `soak: ${r.seconds} s against smr serve (S3 origin on Ceph RGW through a fault proxy), image ${values.image} (${(r.imageBytes / 2 ** 20).toFixed(0)} MiB)`,
    `requests served          ${r.requestsServed}`,
    `honest reads (ours)      ${h.reads} (${(h.bytesRead / 2 ** 20).toFixed(0)} MiB compared), reconnects ${h.reconnects} (${h.connectFailures} refused attempts)`,
    `wrong bytes              ${r.wrongBytes}`,
    `qemu-img compare         ${h.qemuCompares} runs, ${h.qemuMismatches} mismatches, ${h.qemuErrors} failed, ${h.qemuAcrossRestart} identical across the server restart`,
    `fio write+verify         ${h.fioRuns} runs, ${h.fioVerifyFailures} verify failures, ${h.fioInterrupted} interrupted`,
    `failed honest reads      ${h.failedReads} (EIO), ${h.failedReadsOutsideFaults} outside a fault window`,
    `crashes                  ${r.crashes}`,
    `peak RSS                 ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB (--cache-mem 8M)`,
    `open fds                 ${r.fdsAtStart} at start, ${r.fdsAtEnd} at end`,
    `hostile connections      ${Object.values(r.hostile).reduce((a, b) => a + b, 0)}, ${r.hostileClosedByServer} closed by the server (${Object.entries(r.hostile).map(([k, v]) => `${k} ${v}`).join(', ')})`,
    `faults                   origin down ${r.faults.originDown}x, latency ${r.faults.latency}x, drops ${r.faults.drops}x (${r.faults.dropped} connections cut, ${r.faults.refused} refused), server SIGTERM+restart ${r.faults.serverRestarts}x`,
    `kill -9 durability       ${r.durability.rounds} rounds, ${r.durability.durableBlocks} acknowledged blocks, ${r.durability.lostBlocks} lost, ${r.durability.failedRestarts} failed restarts`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

const work = await mkdtemp(join(tmpdir(), 'smr-soak-'));
const shared = process.env[envVarOf('s3')];
const own = shared ? null : await STARTERS.s3();
try {
  const report = await runSoak({
    seconds,
    layout: fixtureLayout(values.image as string),
    work,
    s3: shared ? JSON.parse(shared) : own!.env,
    hostile: num('hostile'),
    durabilityRounds: num('rounds'),
    seed: num('seed'),
    log: (m) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`),
  });
  print(report);
  const bad = report.wrongBytes + report.crashes + report.honest.qemuMismatches + report.honest.fioVerifyFailures + report.durability.lostBlocks + report.durability.failedRestarts;
  process.exitCode = bad === 0 && report.fdsAtEnd === report.fdsAtStart ? 0 : 1;
} finally {
  await own?.stop();
  await rm(work, { recursive: true, force: true });
}
