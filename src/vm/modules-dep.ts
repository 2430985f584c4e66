// Kernel module dependencies: the modules.dep format (as depmod writes it:
// "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko ...")
// and the closure of a set of root modules in load order.
import { basename } from 'node:path';

/** "kernel/fs/ext4/ext4.ko.xz" or "crc32c-intel" -> "crc32c_intel" (the kernel treats - and _ alike). */
export function moduleName(pathOrName: string): string {
  return basename(pathOrName)
    .replace(/\.ko(\.(xz|zst|gz))?$/, '')
    .replace(/-/g, '_');
}

export interface ModuleInfo {
  /** Path relative to /lib/modules/KVER. */
  path: string;
  /** Names of the modules it needs loaded first. */
  deps: string[];
}

export function parseModulesDep(text: string): Map<string, ModuleInfo> {
  const out = new Map<string, ModuleInfo>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const path = line.slice(0, colon).trim();
    const deps = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(moduleName);
    out.set(moduleName(path), { path, deps });
  }
  return out;
}

export interface Closure {
  /** Loadable modules, every one after all it depends on. */
  order: Array<{ name: string; path: string }>;
  /** Roots and dependencies compiled into the kernel (nothing to load). */
  builtin: string[];
  /** Names that are neither loadable nor built in. */
  missing: string[];
}

/**
 * The modules ROOTS need, depth first so dependencies come before their
 * users; roots keep their given order otherwise, so the result is
 * deterministic. LOOKUP answers undefined for a name with no .ko.
 */
export async function moduleClosure(
  roots: string[],
  lookup: (name: string) => ModuleInfo | undefined | Promise<ModuleInfo | undefined>,
  isBuiltin: (name: string) => boolean,
): Promise<Closure> {
  const result: Closure = { order: [], builtin: [], missing: [] };
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = async (name: string, chain: string[]): Promise<void> => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`module dependency cycle: ${[...chain, name].join(' -> ')}`);
    state.set(name, 'visiting');
    const info = await lookup(name);
    if (!info) {
      (isBuiltin(name) ? result.builtin : result.missing).push(name);
    } else {
      for (const d of info.deps) await visit(d, [...chain, name]);
      result.order.push({ name, path: info.path });
    }
    state.set(name, 'done');
  };
  for (const r of roots) await visit(moduleName(r), []);
  return result;
}

/** modules.builtin ("kernel/drivers/virtio/virtio.ko" per line) -> names. */
export function parseModulesBuiltin(text: string): Set<string> {
  return new Set(text.split('\n').filter(Boolean).map(moduleName));
}
