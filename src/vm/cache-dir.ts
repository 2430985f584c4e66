// Where the guest kernel, initramfs and accelerator probe results are kept:
// an explicit option, else $SMR_VM_CACHE, else ~/.cache/stream-my-root/vm.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function vmCacheDir(explicit?: string): string {
  if (explicit) return resolve(explicit);
  if (process.env.SMR_VM_CACHE) return resolve(process.env.SMR_VM_CACHE);
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'stream-my-root', 'vm');
}
