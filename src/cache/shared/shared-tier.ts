// The shared cache tier: chunks that some worker fetched from the origin, kept
// on cache servers people already run (Redis, memcached) for every worker.
// Placement is rendezvous hashing of the chunk name over the nodes; with an
// erasure code K+M each chunk is K data fragments plus M parity fragments on
// K+M distinct nodes, a read asks all of them and is done with the first K
// good answers, so one slow or dead node costs nothing. The values are the
// origin's stored bytes (compressed, encrypted where the recipe is), never
// plaintext; the tiered source verifies the reassembled chunk's digest.
import type { LogFn } from '../../util/log.js';
import { SmrError } from '../../util/errors.js';
import type { ChunkTier } from '../tier.js';
import { FillQueue, type FillCounters } from './fill-queue.js';
import { decodeFragment, encodeFragments, joinFragments, type ErasureCode, type Fragment } from './fragments.js';
import { openCacheNode, type CacheNode } from './node.js';
import { NodeHealth, type NodeCounters, type NodeState } from './node-health.js';
import { NodeSlots } from './node-slots.js';
import type { NodeSpec } from './node-url.js';
import { rankNodes } from './rendezvous.js';

export interface SharedTierOptions {
  nodes: NodeSpec[];
  /** Default: 4+1 with at least five nodes, else whole chunks on one node (1+0). */
  code?: ErasureCode;
  /** A read request not answered within this is a failure, and its node is marked down. */
  timeoutMs: number;
  /** Key prefix, so several fleets can share servers. */
  prefix: string;
  log: LogFn;
  /** Pause before a down node is probed again. */
  retryMs?: number;
  /** Chunks waiting to be written before new fills are dropped. */
  fillCapacity?: number;
  fillConcurrency?: number;
  /** Requests in flight per node; more wait (untimed) for a slot. */
  perNodeRequests?: number;
  /**
   * On a miss, how long to wait for another worker that is already fetching
   * the chunk from the origin (it holds the chunk's claim) before fetching it
   * too; 0 turns claims off.
   */
  claimWaitMs?: number;
}

export interface SharedTierStats {
  code: string;
  hits: number;
  misses: number;
  /** Good fragments a hit was decoded from. */
  fragmentsDecoded: number;
  /** Hits that rebuilt a missing data fragment from parity. */
  parityRepairs: number;
  /** Reassembled chunks that failed the digest (bypassed; the origin's fill overwrites them). */
  digestFailures: number;
  /** Misses that waited for another worker's fetch of the same chunk. */
  claimWaits: number;
  fills: FillCounters;
  nodes: Record<string, NodeCounters & { state: NodeState }>;
}

const FAILED = Symbol('failed');
/** A claim outlives any sane origin fetch, and expires if its worker dies. */
const CLAIM_TTL_MS = 5000;
const CLAIM_POLL_MS = 5;

function defaultCode(nodeCount: number): ErasureCode {
  return nodeCount >= 5 ? { k: 4, m: 1 } : { k: 1, m: 0 };
}

export class SharedTier implements ChunkTier {
  readonly name = 'shared';
  private readonly health: NodeHealth[];
  private readonly slots: NodeSlots[];
  /** Writes have their own, fewer slots: a burst of fills must not hold up reads. */
  private readonly writeSlots: NodeSlots[];
  private readonly ids: string[];
  private readonly fills: FillQueue;
  /** Requests sent and not yet answered or timed out (reads finish before their slowest one). */
  private readonly inflight = new Set<Promise<unknown>>();
  /** Chunks this worker claimed, until when. */
  private readonly ownClaims = new Map<string, number>();
  private readonly counts = { hits: 0, misses: 0, fragmentsDecoded: 0, parityRepairs: 0, digestFailures: 0, claimWaits: 0 };

  private constructor(private readonly nodes: CacheNode[], readonly code: ErasureCode, private readonly opts: SharedTierOptions) {
    this.ids = nodes.map((n) => n.id);
    this.health = nodes.map((n) => new NodeHealth(n.id, opts.retryMs ?? 250, opts.log));
    this.slots = nodes.map(() => new NodeSlots(opts.perNodeRequests ?? 4));
    this.writeSlots = nodes.map(() => new NodeSlots(2));
    this.fills = new FillQueue(opts.fillCapacity ?? 128, opts.fillConcurrency ?? 4); // at most ~64 MiB of 512 KiB chunks waiting
  }

  static async open(opts: SharedTierOptions): Promise<SharedTier> {
    const code = opts.code ?? defaultCode(opts.nodes.length);
    if (code.k + code.m > opts.nodes.length) {
      throw new SmrError('USAGE', `--shared-ec ${code.k}+${code.m} needs ${code.k + code.m} nodes, ${opts.nodes.length} given`);
    }
    const nodes = await Promise.all(opts.nodes.map(openCacheNode));
    // Give connections a moment, so the first reads do not find every node "down".
    await Promise.all(nodes.map((n) => n.ready(1000)));
    return new SharedTier(nodes, code, opts);
  }

  get stats(): SharedTierStats {
    return {
      code: `${this.code.k}+${this.code.m}`,
      ...this.counts,
      fills: this.fills.counters,
      nodes: Object.fromEntries(this.health.map((h) => [h.id, { state: h.state, ...h.counters }])),
    };
  }

  private key(digest: string, index: number): string {
    return `${this.opts.prefix}${digest}/${this.code.k}+${this.code.m}/${index}`;
  }

  /** The node index holding each fragment, fragment 0 first. */
  private placement(digest: string): number[] {
    return rankNodes(this.ids, digest).slice(0, this.code.k + this.code.m);
  }

  /**
   * One request to one node under a timeout; FAILED on error or timeout. A
   * failed read marks the node down; a failed write is only counted (writes
   * are background work, and a dead node shows on the next read anyway).
   */
  private async ask<T>(node: number, op: (n: CacheNode) => Promise<T>, timeoutMs: number, kind: 'read' | 'write'): Promise<T | typeof FAILED> {
    const p = this.request(node, op, timeoutMs, kind);
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
    return p;
  }

  private async request<T>(node: number, op: (n: CacheNode) => Promise<T>, timeoutMs: number, kind: 'read' | 'write'): Promise<T | typeof FAILED> {
    const h = this.health[node]!;
    const slots = (kind === 'read' ? this.slots : this.writeSlots)[node]!;
    const fail = (why: 'timeout' | 'error', detail: string) => (kind === 'read' ? this.down(node, why, detail) : h.writeFailed(why));
    if (!(await slots.acquire())) return FAILED; // the node went down while this waited
    h.counters.requests++;
    let timer: NodeJS.Timeout | undefined;
    // When the timer fires, an answer may already be waiting in the socket,
    // unread because the event loop was busy (decoding chunks): timers run
    // before I/O polling, so give that answer one poll phase (setImmediate
    // runs after it) before calling the node slow.
    const timedOut = new Promise<typeof FAILED>((r) => (timer = setTimeout(() => setImmediate(() => r(FAILED)), timeoutMs)));
    try {
      const r = await Promise.race([op(this.nodes[node]!), timedOut]);
      if (r === FAILED) fail('timeout', `no answer within ${timeoutMs} ms`);
      else h.succeeded();
      return r;
    } catch (e) {
      fail('error', (e as Error).message);
      return FAILED;
    } finally {
      clearTimeout(timer);
      slots.release();
    }
  }

  private down(node: number, why: 'timeout' | 'error', detail: string): void {
    this.health[node]!.failed(why, detail);
    this.slots[node]!.flush();
    this.writeSlots[node]!.flush();
  }

  async get(digest: string): Promise<Buffer | null> {
    const found = await this.attempt(digest);
    if (found !== null) return this.hit(found);
    // Missing: fetch it from the origin unless another worker already is
    // (it holds the claim); then wait a while for its fill instead, so a
    // chunk that many cold workers want at once is fetched once.
    const waitMs = this.opts.claimWaitMs ?? 0;
    if (waitMs <= 0 || (await this.claim(digest))) return this.miss();
    this.counts.claimWaits++;
    const until = Date.now() + waitMs;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, CLAIM_POLL_MS));
      const later = await this.attempt(digest);
      if (later !== null) return this.hit(later);
    }
    return this.miss();
  }

  /** True when this worker now holds the claim on fetching `digest` (or claims cannot be made). */
  private async claim(digest: string): Promise<boolean> {
    const now = Date.now();
    // Our own claim still standing (our fill was dropped, say): never wait for ourselves.
    if ((this.ownClaims.get(digest) ?? 0) > now) return true;
    const node = this.placement(digest)[0]!;
    if (!this.health[node]!.usable()) return true;
    const r = await this.ask(node, (n) => n.claim(`${this.opts.prefix}${digest}/claim`, CLAIM_TTL_MS), this.opts.timeoutMs, 'read');
    if (r === true) {
      if (this.ownClaims.size > 10_000) for (const [d, t] of this.ownClaims) if (t <= now) this.ownClaims.delete(d);
      this.ownClaims.set(digest, now + CLAIM_TTL_MS);
    }
    return r !== false;
  }

  private hit(found: { stored: Buffer; repaired: boolean }): Buffer {
    this.counts.hits++;
    this.counts.fragmentsDecoded += this.code.k;
    if (found.repaired) this.counts.parityRepairs++;
    return found.stored;
  }

  /** Asks the chunk's nodes; the stored bytes from the first K good fragments, or null. */
  private attempt(digest: string): Promise<{ stored: Buffer; repaired: boolean } | null> {
    const { k } = this.code;
    return new Promise((resolve) => {
      const good: Fragment[] = [];
      let pending = 0;
      let settled = false;
      const settle = () => {
        if (settled) return;
        if (good.length >= k) {
          settled = true;
          const stored = joinFragments(good.slice(0, k), this.code);
          resolve(stored === null ? null : { stored, repaired: good.slice(0, k).some((f) => f.index >= k) });
        } else if (good.length + pending < k) {
          settled = true;
          resolve(null);
        }
      };
      this.placement(digest).forEach((node, index) => {
        if (!this.health[node]!.usable()) return;
        pending++;
        void this.ask(node, (n) => n.get(this.key(digest, index)), this.opts.timeoutMs, 'read').then((value) => {
          pending--;
          if (value !== FAILED && value !== null) {
            const f = decodeFragment(value, digest, index, this.code);
            if (typeof f === 'string') this.health[node]!.badValue(f);
            else good.push(f);
          }
          settle();
        });
      });
      settle();
    });
  }

  private miss(): null {
    this.counts.misses++;
    return null;
  }

  put(digest: string, stored: Buffer): void {
    this.fills.offer(async () => {
      const values = encodeFragments(digest, stored, this.code);
      // Writes may take longer than reads (bigger requests); a slow write is not a dead node.
      const timeout = Math.max(4 * this.opts.timeoutMs, 250);
      const results = await Promise.all(
        this.placement(digest).map((node, index) =>
          this.ask(node, (n) => n.set(this.key(digest, index), values[index]!), timeout, 'write'),
        ),
      );
      if (results.includes(FAILED)) throw new Error('not every fragment was written');
    });
  }

  rejected(): void {
    this.counts.digestFailures++;
  }

  /** Resolves when the queued fills are written (or failed) and every request sent has ended. */
  async idle(): Promise<void> {
    await this.fills.idle();
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  async close(): Promise<void> {
    await this.idle();
    await Promise.all(this.nodes.map((n) => n.close()));
  }
}
