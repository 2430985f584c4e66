// A Redis server (or one Redis Cluster, through ioredis's own cluster support:
// slots, MOVED/ASK redirections, failover) as a shared-tier node. The offline
// queue is off, so commands fail at once while the client reconnects in the
// background instead of piling up behind a dead server.
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { CacheNode } from './node.js';
import type { NodeSpec } from './node-url.js';

const COMMON: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  connectTimeout: 1000,
  retryStrategy: (attempt) => Math.min(50 * attempt, 1000), // keep reconnecting, at most once a second
};

export class RedisNode implements CacheNode {
  readonly id: string;
  private readonly client: Redis | Cluster;

  constructor(spec: NodeSpec) {
    this.id = spec.id;
    this.client =
      spec.kind === 'redis-cluster'
        ? new Cluster(spec.seeds, { enableOfflineQueue: false, redisOptions: COMMON, clusterRetryStrategy: (n) => Math.min(100 * n, 1000) })
        : new Redis({ ...COMMON, host: spec.host, port: spec.port });
    // Errors surface through the commands; without a listener ioredis prints them.
    this.client.on('error', () => {});
  }

  get(key: string): Promise<Buffer | null> {
    return this.client.getBuffer(key);
  }

  async set(key: string, value: Buffer): Promise<void> {
    await this.client.set(key, value);
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    return (await this.client.set(key, '1', 'PX', ttlMs, 'NX')) === 'OK';
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  ready(ms: number): Promise<void> {
    if (this.client.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.client.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.client.on('ready', done);
    });
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }
}
