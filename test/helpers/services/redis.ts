// Redis (Debian's redis-server 7) for the cache-tier tests: no persistence,
// no password, protected mode on, 127.0.0.1 only, its files in a temp dir.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../registry.js';
import { ensurePackages } from './apt.js';
import { startAnswering } from './daemon.js';
import { tcpAnswers } from './probe.js';
import type { ServiceHandle } from './service.js';

export const REDIS_PACKAGES = { 'redis-server': 'redis-server' };

export async function startRedis(opts: { maxMemory?: string; cluster?: boolean } = {}): Promise<ServiceHandle> {
  const missing = ensurePackages(REDIS_PACKAGES);
  if (missing) throw new Error(`redis: ${missing}`);
  const dir = await mkdtemp(join(tmpdir(), 'smr-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'];
  if (opts.cluster) args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'));
  if (opts.maxMemory) args.push('--maxmemory', opts.maxMemory, '--maxmemory-policy', 'allkeys-lru');
  const daemon = await startAnswering('redis-server', 'redis-server', args, join(dir, 'redis.log'), () => tcpAnswers(port, 'PING\r\n', '+PONG'));
  return {
    kind: 'redis',
    env: { REDIS_URL: `redis://127.0.0.1:${port}` },
    async stop() {
      await daemon.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
