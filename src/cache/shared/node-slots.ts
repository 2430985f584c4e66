// At most a few requests in flight per node; the rest wait their turn here,
// before their timeout starts. Otherwise a burst of reads (a cold boot asks
// for a hundred chunks at once) queues behind one connection, and the last
// answers look like a slow node when only our own queue was long.

export class NodeSlots {
  private busy = 0;
  private readonly waiting: Array<(granted: boolean) => void> = [];

  constructor(private readonly limit: number) {}

  /** Resolves true when a slot is free, or false when the queue is flushed (the node went down). */
  acquire(): Promise<boolean> {
    if (this.busy < this.limit) {
      this.busy++;
      return Promise.resolve(true);
    }
    return new Promise((r) => this.waiting.push(r));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next(true);
    else this.busy--;
  }

  /** Fails every waiting request (their node is down: they go elsewhere). */
  flush(): void {
    for (const w of this.waiting.splice(0)) w(false);
  }
}
