// A memcached server as a shared-tier node, through memjs (binary protocol).
// One client per node: placement is ours (rendezvous), so memjs's own hashing
// and failover are not used, and its retries are off (the tier re-probes).
import memjs from 'memjs';
import type { CacheNode } from './node.js';
import type { NodeSpec } from './node-url.js';

const PROBE_KEY = 'smr-probe';

export class MemcachedNode implements CacheNode {
  readonly id: string;
  private readonly client: memjs.Client;

  constructor(spec: { id: string; host: string; port: number }) {
    this.id = spec.id;
    this.client = memjs.Client.create(`${spec.host}:${spec.port}`, {
      retries: 0,
      failover: false,
      timeout: 1, // seconds; the tier's own, shorter timeout decides first
      conntimeout: 1,
      keepAlive: true,
      logger: { log: () => {} },
    });
  }

  async get(key: string): Promise<Buffer | null> {
    return (await this.client.get(key)).value;
  }

  async set(key: string, value: Buffer): Promise<void> {
    if (!(await this.client.set(key, value, { expires: 0 }))) throw new Error('memcached did not store the value');
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    return this.client.add(key, Buffer.from('1'), { expires: Math.max(1, Math.ceil(ttlMs / 1000)) });
  }

  async ping(): Promise<void> {
    await this.client.get(PROBE_KEY);
  }

  async ready(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.ping().catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
