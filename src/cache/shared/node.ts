// One cache server of the shared tier, behind the few operations the tier
// needs. Implementations never queue commands while disconnected: a node that
// is away fails at once, and the tier decides what that means.
import type { NodeSpec } from './node-url.js';

export interface CacheNode {
  readonly id: string;
  /** The value, or null when the server does not have the key. */
  get(key: string): Promise<Buffer | null>;
  set(key: string, value: Buffer): Promise<void>;
  /** Creates `key` only if absent, expiring after `ttlMs`: true when this call created it. */
  claim(key: string, ttlMs: number): Promise<boolean>;
  /** A cheap request that proves the server answers (re-probing a down node). */
  ping(): Promise<void>;
  /** Resolves when connected or after `ms`, whichever first (never rejects). */
  ready(ms: number): Promise<void>;
  close(): Promise<void>;
}

export async function openCacheNode(spec: NodeSpec): Promise<CacheNode> {
  if (spec.kind === 'memcached') return new (await import('./memcached-node.js')).MemcachedNode(spec);
  return new (await import('./redis-node.js')).RedisNode(spec);
}
