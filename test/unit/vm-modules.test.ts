// Kernel module resolution: the modules.dep closure in load order, our ELF
// .modinfo reader against kmod's modinfo, and the whole resolution without
// modules.dep (Debian's package has none) against depmod's modules.dep for
// the same tree -- the last two on the kernel in the VM cache when present.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { moduleClosure, moduleName, parseModulesBuiltin, parseModulesDep } from '../../src/vm/modules-dep.js';
import { modinfoDepends, readModinfo } from '../../src/vm/modinfo.js';
import { GUEST_MODULES, resolveGuestModules } from '../../src/vm/kernel-modules.js';
import { cachedKernel } from '../../src/vm/kernel.js';
import { VM_CACHE } from '../helpers/vm.js';
import { haveCommand } from '../helpers/run.js';

const DEP = `kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz
kernel/fs/jbd2/jbd2.ko.xz:
kernel/fs/mbcache.ko.xz:
kernel/lib/crc16.ko.xz:
kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/virtio/virtio_mmio.ko.xz: kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/virtio/virtio.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/virtio/virtio_ring.ko.xz:
kernel/crypto/crc32c-generic.ko.xz:
kernel/a.ko: kernel/b.ko
kernel/b.ko: kernel/a.ko
`;

describe('modules.dep closure', () => {
  const deps = parseModulesDep(DEP);
  const lookup = (n: string) => deps.get(n);

  test('names: basename without .ko[.xz], - as _', () => {
    assert.equal(moduleName('kernel/crypto/crc32c-intel.ko.zst'), 'crc32c_intel');
    assert.equal(moduleName('ext4'), 'ext4');
    assert.deepEqual(deps.get('ext4')?.deps, ['crc16', 'mbcache', 'jbd2']);
    assert.ok(parseModulesBuiltin('kernel/drivers/virtio/virtio_pci-x.ko\n').has('virtio_pci_x'));
  });

  test('dependencies come before their users, each module once, roots in order', async () => {
    const c = await moduleClosure(['virtio_mmio', 'virtio_blk', 'crc32c-generic', 'ext4'], lookup, () => false);
    const order = c.order.map((m) => m.name);
    assert.deepEqual(order, ['virtio_ring', 'virtio', 'virtio_mmio', 'virtio_blk', 'crc32c_generic', 'crc16', 'mbcache', 'jbd2', 'ext4']);
    for (const [i, m] of order.entries()) for (const d of deps.get(m)!.deps) assert.ok(order.indexOf(d) < i, `${d} before ${m}`);
    assert.equal(c.order.find((m) => m.name === 'ext4')?.path, 'kernel/fs/ext4/ext4.ko.xz');
  });

  test('built-in and unknown modules are told apart', async () => {
    const c = await moduleClosure(['virtio_pci', 'nope', 'ext4'], lookup, (n) => n === 'virtio_pci');
    assert.deepEqual(c.builtin, ['virtio_pci']);
    assert.deepEqual(c.missing, ['nope']);
  });

  test('a dependency cycle is an error, not a hang', async () => {
    await assert.rejects(moduleClosure(['a'], lookup, () => false), /cycle: a -> b -> a/);
  });
});

const kernelDir = join(VM_CACHE, 'kernel');
const noKernel = !existsSync(join(kernelDir, 'kernel.json')) && `no kernel in ${kernelDir} (run 'smr boot --prepare')`;

describe('against kmod, on the cached Debian kernel', { skip: noKernel }, () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  test('.modinfo depends= matches modinfo -F depends', { skip: !haveCommand('modinfo') && !existsSync('/sbin/modinfo') && 'kmod missing (apt-get install kmod)' }, async () => {
    const k = (await cachedKernel(VM_CACHE))!;
    const closure = await resolveGuestModules(k.modules);
    assert.ok(closure.order.length >= 5);
    for (const m of closure.order) {
      const file = join(k.modules, m.path);
      const r = spawnSync(existsSync('/sbin/modinfo') ? '/sbin/modinfo' : 'modinfo', ['-F', 'depends', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const theirs = r.stdout.trim().split(',').filter(Boolean).map((d) => d.replace(/-/g, '_'));
      assert.deepEqual(modinfoDepends(readModinfo(readFileSync(file))).sort(), theirs.sort(), m.name);
    }
  });

  test("the closure without modules.dep equals the one through depmod's modules.dep", { skip: !existsSync('/sbin/depmod') && 'kmod missing (apt-get install kmod)' }, async () => {
    const k = (await cachedKernel(VM_CACHE))!;
    // depmod writes into the tree: give it a scratch tree linking to the cached modules.
    const base = mkdtempSync(join(tmpdir(), 'smr-depmod-'));
    dirs.push(base);
    const tree = join(base, 'lib', 'modules', k.release);
    mkdirSync(tree, { recursive: true });
    symlinkSync(join(k.modules, 'kernel'), join(tree, 'kernel'));
    for (const f of ['modules.order', 'modules.builtin', 'modules.builtin.modinfo']) if (existsSync(join(k.modules, f))) copyFileSync(join(k.modules, f), join(tree, f));
    const r = spawnSync('/sbin/depmod', ['-b', base, k.release], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const viaDepmod = await resolveGuestModules(tree);
    const viaModinfo = await resolveGuestModules(k.modules);
    assert.deepEqual(new Set(viaModinfo.order.map((m) => m.name)), new Set(viaDepmod.order.map((m) => m.name)));
    assert.deepEqual(viaModinfo.builtin.sort(), viaDepmod.builtin.sort());
    const depmodDeps = parseModulesDep(readFileSync(join(tree, 'modules.dep'), 'utf8'));
    const order = viaModinfo.order.map((m) => m.name);
    for (const [i, m] of order.entries()) for (const d of depmodDeps.get(m)!.deps) assert.ok(order.indexOf(d) < i, `${d} before ${m}`);
    for (const root of GUEST_MODULES) assert.ok(order.includes(root) || viaModinfo.builtin.includes(root), root);
  });
});
