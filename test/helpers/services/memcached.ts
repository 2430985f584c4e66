// memcached 1.6 for the cache-tier tests: TCP on 127.0.0.1 only, UDP off,
// 256 MiB, and a 2 MiB item limit (512 KiB chunks need more than the stock
// 1 MiB with headroom; the stock 64 MiB would hold only ~120 chunks).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../registry.js';
import { isRoot } from '../run.js';
import { ensurePackages } from './apt.js';
import { startAnswering } from './daemon.js';
import { tcpAnswers } from './probe.js';
import type { ServiceHandle } from './service.js';

export const MEMCACHED_PACKAGES = { memcached: 'memcached' };

export async function startMemcached(): Promise<ServiceHandle> {
  const missing = ensurePackages(MEMCACHED_PACKAGES);
  if (missing) throw new Error(`memcached: ${missing}`);
  const dir = await mkdtemp(join(tmpdir(), 'smr-memcached-'));
  const port = await freePort();
  const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '256', '-I', '2m'];
  if (isRoot()) args.push('-u', 'root'); // memcached refuses to run as root without it
  const daemon = await startAnswering('memcached', 'memcached', args, join(dir, 'memcached.log'), () => tcpAnswers(port, 'version\r\n', 'VERSION '));
  return {
    kind: 'memcached',
    env: { MEMCACHED_SERVERS: `127.0.0.1:${port}` },
    async stop() {
      await daemon.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
