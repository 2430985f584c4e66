// A real guest kernel boots from an `smr serve` export under QEMU (src/vm:
// Debian's kernel, our initramfs) and runs python3 from the image, served
// with a cold cache; then again with --prefetch from the first boot's
// trace. `smr boot` applies env, working directory, user and exit status
// as docker run does, fails clearly when the export does not exist, and
// mounts the root read-write only when asked.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureLayout, skipWithoutFixtures } from '../helpers/fixtures.js';
import { haveCommand, isRoot, smr } from '../helpers/run.js';
import { readStats, startServe } from '../helpers/smr-serve.js';
import { VM_CACHE } from '../helpers/vm.js';
import { readRecipeFile } from '../../src/chunk/recipe.js';
import { boot } from '../../src/vm/index.js';

const skip = skipWithoutFixtures() || (!isRoot() ? 'needs root' : !haveCommand('qemu-system-x86_64') ? 'qemu-system-x86 missing' : false);

async function bootPython(port: number, name: string) {
  let out = '';
  const r = await boot({
    disk: `nbd://127.0.0.1:${port}/${name}`,
    request: { argv: ['/usr/bin/python3', '-c', 'print(42)'], timeoutSeconds: 300 },
    cacheDir: VM_CACHE,
    bootTimeoutSeconds: 240,
    onOutput: (d) => (out += d.toString('utf8')),
  });
  return { ...r, out };
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
      const b = await bootPython(s.port, name);
      assert.equal(await s.stop(), 0);
      assert.equal(b.outcome, 'exited', `${b.error ?? ''}\n${b.logTail?.join('\n') ?? ''}`);
      assert.equal(b.status, 0, b.out);
      assert.equal(b.out, '42\n');
      const stats = await readStats(join(work, 'cold.json'));
      const recipe = await readRecipeFile(join(work, `${name}.recipe`));
      const stored = recipe.chunks.reduce((n, c) => n + c.storedLength, 0);
      const tm = b.timings;
      t.diagnostic(
        `${name} cold boot (${b.accel}): wall ${tm.wallMs} ms, vm start ${tm.vmStartMs} ms, kernel->init ${tm.kernelToInitMs} ms, init->command ${tm.initToCommandMs} ms, command ${tm.commandMs} ms; ` +
          `${stats.cache.originFetches} of ${recipe.chunks.length} chunks fetched, ` +
          `${(stats.cache.originBytes / 1e6).toFixed(2)} MB of ${(stored / 1e6).toFixed(2)} MB stored (${((100 * stats.cache.originBytes) / stored).toFixed(1)}%), ` +
          `guest read ${(stats.server.bytesRead / 1e6).toFixed(2)} MB in ${stats.server.requests} requests; image ${(recipe.imageSize / 1e6).toFixed(0)} MB`,
      );
      assert.ok(stats.cache.originFetches > 0 && stats.cache.originFetches < recipe.chunks.length, 'lazy: only part of the image was fetched');
      assert.equal(stats.traced[name], stats.cache.originFetches);
    });

    it('second boot with --prefetch: the traced chunks are fetched ahead of the guest', async (t) => {
      const s = await startServe([join(work, `${name}.recipe`), '--store', join(work, 'store'), '--prefetch', join(work, 'trace'), '--stats-out', join(work, 'warm.json')]);
      const b = await bootPython(s.port, name);
      assert.equal(await s.stop(), 0);
      assert.equal(b.status, 0, `${b.error ?? ''} ${b.out}`);
      assert.equal(b.out, '42\n');
      const stats = await readStats(join(work, 'warm.json'));
      const p = stats.prefetch[name];
      const e = stats.exports[name];
      t.diagnostic(`${name} prefetch: ${p.fetched} of ${p.planned} traced chunks fetched ahead; the guest read ${e.chunksRead} chunks, ${e.firstReadsCached} already in memory at its first read`);
      assert.equal(p.fetched, p.planned);
      assert.equal(p.failed, 0);
      assert.ok(e.firstReadsCached >= 0.9 * e.chunksRead, `${e.firstReadsCached} of ${e.chunksRead} first reads found the chunk prefetched`);
    });

    if (name === 'debian-python') {
      it('smr boot over a unix socket: env, working directory, user, hostname and exit status as docker run applies them', async () => {
        const sock = join(work, 'nbd.sock');
        const s = await startServe([join(work, `${name}.recipe`), '--store', join(work, 'store'), '--socket', sock]);
        const script = 'echo "cwd=$(pwd) foo=$FOO home=$HOME host=$(hostname) id=$(id -u):$(id -g)"; printf "no newline"; exit 7';
        const r = await smr(['boot', `nbd+unix:///${name}?socket=${sock}`, '--cache', VM_CACHE, '--timeout', '300', '-e', 'FOO=a b', '-w', '/usr/lib', '-u', 'nobody', '--hostname', 'guest1', '--', '/bin/sh', '-c', script]);
        const bad = await smr(['boot', `nbd+unix:///no-such-export?socket=${sock}`, '--cache', VM_CACHE, '--', 'true']);
        await s.stop();
        assert.equal(r.code, 7, r.stderr);
        assert.equal(r.stdout, 'cwd=/usr/lib foo=a b home=/nonexistent host=guest1 id=65534:65534\nno newline');
        assert.equal(bad.code, 125);
        assert.match(bad.stderr, /^smr boot: .*no-such-export/m);
      });

      it('--writable mounts the root read-write on a writable export; without it the root is read-only', async () => {
        const s = await startServe([join(work, `${name}.recipe`), '--store', join(work, 'store'), '--writable']);
        const url = `nbd://127.0.0.1:${s.port}/${name}`;
        // A process left running with a file open for writing must not keep the root dirty.
        const rw = await smr(['boot', url, '--cache', VM_CACHE, '--timeout', '300', '--writable', '-w', '/srv/made', '--', '/bin/sh', '-c', 'pwd > /etc/written && (sleep 600 > /etc/busy &) && cat /etc/written']);
        const ro = await smr(['boot', url, '--cache', VM_CACHE, '--timeout', '300', '--', '/bin/sh', '-c', 'cat /etc/written; touch /etc/other']);
        // The next read-write mount finds the filesystem clean (init remounted it read-only before power-off).
        const again = await smr(['boot', url, '--cache', VM_CACHE, '--timeout', '300', '--writable', '-v', '--', '/bin/sh', '-c', 'cat /etc/written']);
        await s.stop();
        assert.equal(rw.code, 0, rw.stderr);
        assert.equal(rw.stdout, '/srv/made\n');
        assert.equal(ro.code, 1, ro.stderr);
        assert.match(ro.stdout, /^\/srv\/made\n.*Read-only file system/s);
        assert.equal(again.code, 0, again.stderr);
        const log = again.stdout + again.stderr;
        assert.match(log, /EXT4-fs \(vda\): mounted filesystem/, 'the verbose boot shows kernel messages');
        assert.doesNotMatch(log, /mounting unchecked fs/);
        assert.match(again.stdout, /\/srv\/made\n/);
      });
    }
  });
}
