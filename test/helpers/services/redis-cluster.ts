// A Redis Cluster of three masters on loopback (no replicas), made with
// redis-cli --cluster create, for the shared tier's cluster support.
import { run } from '../run.js';
import { waitUntil } from './daemon.js';
import { startRedis } from './redis.js';
import type { ServiceHandle } from './service.js';

export interface RedisCluster {
  /** host:port of each master. */
  nodes: string[];
  stop(): Promise<void>;
}

export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const servers: ServiceHandle[] = [];
  try {
    for (let i = 0; i < masters; i++) servers.push(await startRedis({ cluster: true }));
    const nodes = servers.map((s) => s.env.REDIS_URL!.replace('redis://', ''));
    const r = await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes']);
    if (r.code !== 0) throw new Error(`redis-cli --cluster create: ${r.stderr || r.stdout}`);
    const [host, port] = nodes[0]!.split(':');
    await waitUntil('redis cluster', async () => {
      const info = await run('redis-cli', ['-h', host!, '-p', port!, 'cluster', 'info']);
      return /cluster_state:ok/.test(info.stdout);
    });
    return { nodes, stop: async () => void (await Promise.all(servers.map((s) => s.stop()))) };
  } catch (e) {
    await Promise.all(servers.map((s) => s.stop()));
    throw e;
  }
}
