// The kernel modules a guest needs, from a kernel's /lib/modules tree:
// dependencies through modules.dep when the tree has one, else through each
// module's own .modinfo "depends=" (what depmod would have written), and
// the files decompressed when the kernel ships them compressed.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { SmrError } from '../util/errors.js';
import { compressionOf, decompress } from './decompress.js';
import { ARCH } from './guest-arch.js';
import { modinfoDepends, readModinfo } from './modinfo.js';
import { moduleClosure, moduleName, parseModulesBuiltin, parseModulesDep, type Closure, type ModuleInfo } from './modules-dep.js';

/**
 * Modules an amd64 guest loads (guest-arch.ts has each architecture's):
 * virtio over MMIO (microvm, virt) or PCI (q35), the block driver, ext4 --
 * and crc32c, which ext4 and jbd2 look up through the crypto API at mount
 * time (a soft dependency modules.dep does not list). crc32c_intel needs
 * SSE4.2; crc32c_generic covers CPUs without it.
 */
export const GUEST_MODULES = ARCH.amd64.modules;

async function walk(dir: string, out: string[] = []): Promise<string[]> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else if (/\.ko(\.(xz|zst|gz))?$/.test(e.name)) out.push(p);
  }
  return out;
}

/** A module file's contents, decompressed. */
async function moduleBytes(file: string): Promise<Buffer> {
  const data = await readFile(file);
  const how = /\.ko$/.test(file) ? undefined : compressionOf(data);
  return how ? decompress(data, how) : data;
}

/** name -> { path, deps } for every module in the tree MODULES (a /lib/modules/KVER). */
async function dependencyLookup(modules: string): Promise<(name: string) => Promise<ModuleInfo | undefined>> {
  const depFile = join(modules, 'modules.dep');
  if (existsSync(depFile)) {
    const deps = parseModulesDep(await readFile(depFile, 'utf8'));
    return async (name) => deps.get(name);
  }
  const paths = new Map<string, string>();
  for (const f of await walk(modules)) paths.set(moduleName(f), relative(modules, f));
  return async (name) => {
    const path = paths.get(name);
    if (!path) return undefined;
    return { path, deps: modinfoDepends(readModinfo(await moduleBytes(join(modules, path)))) };
  };
}

export async function resolveGuestModules(modules: string, roots: string[] = GUEST_MODULES): Promise<Closure> {
  const builtinFile = join(modules, 'modules.builtin');
  const builtin = existsSync(builtinFile) ? parseModulesBuiltin(await readFile(builtinFile, 'utf8')) : new Set<string>();
  const closure = await moduleClosure(roots, await dependencyLookup(modules), (n) => builtin.has(n));
  if (closure.missing.length) throw new SmrError('KERNEL_MODULES', `the guest kernel has no module ${closure.missing.join(', ')} (neither loadable nor built in)`);
  return closure;
}

export interface LoadableModule {
  name: string;
  /** The uncompressed .ko. */
  data: Buffer;
}

/** ROOTS' closure from the tree MODULES, in load order, decompressed. */
export async function guestModules(modules: string, roots: string[] = GUEST_MODULES): Promise<LoadableModule[]> {
  const closure = await resolveGuestModules(modules, roots);
  return Promise.all(closure.order.map(async (m) => ({ name: m.name, data: await moduleBytes(join(modules, m.path)) })));
}
