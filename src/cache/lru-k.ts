// A byte-bounded LRU-K cache (O'Neil et al., SIGMOD '93) with K = 2, as the
// Lambda paper's caches use: the victim is the entry whose second-to-last
// reference is oldest, and entries referenced only once go first. A
// sequential scan touches each chunk once, so it cannot flush the chunks a
// workload keeps coming back to, which plain LRU would.
//
// Two refinements from the paper: references within the correlation period
// of the previous one count as one (the many small reads of one chunk within
// a single burst are one use), and the reference history of evicted keys is
// retained for a while, so a key that comes back soon is judged on its past.

interface Entry<V> {
  key: string;
  value: V;
  size: number;
  last: number;
  /** Second-to-last uncorrelated reference; -Infinity when there is none. */
  prev: number;
  heapIndex: number;
}

export interface LruKOptions {
  maxBytes: number;
  /** References closer than this (ms) to the last one are the same use. */
  correlationMs?: number;
  /** How many evicted keys' histories to retain. */
  historyEntries?: number;
  now?: () => number;
}

export class LruKCache<V> {
  private readonly map = new Map<string, Entry<V>>();
  /** Min-heap by (prev, last): the root is the next victim. */
  private readonly heap: Array<Entry<V>> = [];
  private readonly history = new Map<string, { last: number; prev: number }>();
  private bytes = 0;
  private readonly correlationMs: number;
  private readonly historyEntries: number;
  private readonly now: () => number;
  hits = 0;
  misses = 0;
  evictions = 0;

  constructor(private readonly opts: LruKOptions) {
    this.correlationMs = opts.correlationMs ?? 100;
    this.historyEntries = opts.historyEntries ?? 4096;
    this.now = opts.now ?? (() => performance.now());
  }

  get size(): number {
    return this.map.size;
  }

  get usedBytes(): number {
    return this.bytes;
  }

  get maxBytes(): number {
    return this.opts.maxBytes;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.touch(e, this.now());
    return e.value;
  }

  /** Inserts (or replaces) a value; evicts as needed. Values larger than the cache are not kept. */
  set(key: string, value: V, size: number): void {
    if (size > this.opts.maxBytes) return;
    const t = this.now();
    const old = this.map.get(key);
    if (old !== undefined) {
      this.bytes += size - old.size;
      old.value = value;
      old.size = size;
      this.touch(old, t);
    } else {
      const h = this.history.get(key);
      this.history.delete(key);
      const e: Entry<V> = { key, value, size, last: t, prev: -Infinity, heapIndex: -1 };
      if (h !== undefined) {
        // Judge a returning key on its retained past.
        e.prev = t - h.last <= this.correlationMs ? h.prev : h.last;
      }
      this.map.set(key, e);
      this.bytes += size;
      this.push(e);
    }
    while (this.bytes > this.opts.maxBytes && this.heap.length > 0) this.evict();
  }

  delete(key: string): void {
    const e = this.map.get(key);
    if (e === undefined) return;
    this.removeAt(e.heapIndex);
    this.map.delete(key);
    this.bytes -= e.size;
  }

  private touch(e: Entry<V>, t: number): void {
    if (t - e.last > this.correlationMs) {
      e.prev = e.last;
    }
    e.last = t;
    this.siftDown(e.heapIndex);
    this.siftUp(e.heapIndex);
  }

  private evict(): void {
    const victim = this.heap[0]!;
    this.removeAt(0);
    this.map.delete(victim.key);
    this.bytes -= victim.size;
    this.evictions++;
    this.history.set(victim.key, { last: victim.last, prev: victim.prev });
    if (this.history.size > this.historyEntries) this.history.delete(this.history.keys().next().value as string);
  }

  // --- binary heap keyed by (prev, last) -------------------------------------

  private less(a: Entry<V>, b: Entry<V>): boolean {
    return a.prev < b.prev || (a.prev === b.prev && a.last < b.last);
  }

  private push(e: Entry<V>): void {
    e.heapIndex = this.heap.length;
    this.heap.push(e);
    this.siftUp(e.heapIndex);
  }

  private removeAt(i: number): void {
    const last = this.heap.pop()!;
    if (i < this.heap.length) {
      this.heap[i] = last;
      last.heapIndex = i;
      this.siftDown(i);
      this.siftUp(i);
    }
  }

  private siftUp(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private siftDown(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(a: number, b: number): void {
    const h = this.heap;
    const t = h[a]!;
    h[a] = h[b]!;
    h[b] = t;
    h[a]!.heapIndex = a;
    h[b]!.heapIndex = b;
  }
}
