// A real guest kernel boots from an `smr serve` export under QEMU (the
// ../shared/vm harness) and runs python3 from the image, served with a cold
// cache. Then again with --prefetch from the first boot's trace.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureLayout, SHARED_DIR, skipWithoutFixtures } from '../helpers/fixtures.js';
import { haveCommand, isRoot, run, smr } from '../helpers/run.js';
import { readStats, startServe } from '../helpers/smr-serve.js';
import { readRecipeFile } from '../../src/chunk/recipe.js';

const VM_CACHE = process.env.VM_CACHE ?? '/var/cache/smr-ci/nbd-vm';
const skip = skipWithoutFixtures() || (!isRoot() ? 'needs root' : !haveCommand('qemu-system-x86_64') ? 'qemu-system-x86 missing' : false);

async function boot(port: number, name: string) {
  const r = await run(join(SHARED_DIR, 'vm', 'boot-nbd'), ['--cache', VM_CACHE, '--timeout', '240', `nbd://127.0.0.1:${port}/${name}`, '--', '/usr/bin/python3', '-c', 'print(42)']);
  return r;
}

for (const name of ['python3', 'debian-python']) {
  describe(`${name} boots from smr serve`, { skip }, () => {
    let work: string;
    before(async () => {
      work = await mkdtemp(join(tmpdir(), `smr-vm-${name}-`));
      const r = await smr(['convert', `oci:${fixtureLayout(name)}`, '--store', join(work, 'store'), '-o', join(work, `${name}.recipe`), '-q']);
      assert.equal(r.code, 0, r.stderr);
    });
    after(async () => rm(work, { recursive: true, force: true }));

    it('cold cache: the guest prints 42; fetched chunks against the stored image are reported', async (t) => {
      const s = await startServe([join(work, `${name}.recipe`), '--store', join(work, 'store'), '--trace-out', join(work, 'trace'), '--stats-out', join(work, 'cold.json')]);
      const b = await boot(s.port, name);
      assert.equal(await s.stop(), 0);
      assert.equal(b.code, 0, b.stdout + b.stderr);
      assert.match(b.stdout, /^42\r?$/m);
      const stats = await readStats(join(work, 'cold.json'));
      const recipe = await readRecipeFile(join(work, `${name}.recipe`));
      const stored = recipe.chunks.reduce((n, c) => n + c.storedLength, 0);
      t.diagnostic(
        `${name} cold boot: ${stats.cache.originFetches} of ${recipe.chunks.length} chunks fetched, ` +
          `${(stats.cache.originBytes / 1e6).toFixed(2)} MB of ${(stored / 1e6).toFixed(2)} MB stored (${((100 * stats.cache.originBytes) / stored).toFixed(1)}%), ` +
          `guest read ${(stats.server.bytesRead / 1e6).toFixed(2)} MB in ${stats.server.requests} requests; image ${(recipe.imageSize / 1e6).toFixed(0)} MB`,
      );
      assert.ok(stats.cache.originFetches > 0 && stats.cache.originFetches < recipe.chunks.length, 'lazy: only part of the image was fetched');
      assert.equal(stats.traced[name], stats.cache.originFetches);
    });

    it('second boot with --prefetch: the traced chunks are fetched ahead of the guest', async (t) => {
      const s = await startServe([join(work, `${name}.recipe`), '--store', join(work, 'store'), '--prefetch', join(work, 'trace'), '--stats-out', join(work, 'warm.json')]);
      const b = await boot(s.port, name);
      assert.equal(await s.stop(), 0);
      assert.equal(b.code, 0, b.stdout + b.stderr);
      assert.match(b.stdout, /^42\r?$/m);
      const stats = await readStats(join(work, 'warm.json'));
      const p = stats.prefetch[name];
      const e = stats.exports[name];
      t.diagnostic(`${name} prefetch: ${p.fetched} of ${p.planned} traced chunks fetched ahead; the guest read ${e.chunksRead} chunks, ${e.firstReadsCached} already in memory at its first read`);
      assert.equal(p.fetched, p.planned);
      assert.equal(p.failed, 0);
      assert.ok(e.firstReadsCached >= 0.9 * e.chunksRead, `${e.firstReadsCached} of ${e.chunksRead} first reads found the chunk prefetched`);
    });
  });
}
