// Read-ahead for forward scans: a reader that walks the image chunk after
// chunk (a sequential copy, a guest's readahead) would otherwise pay one
// store round trip per chunk. Once a stream of reads touched two chunks in
// a row, the next `depth` chunks are fetched ahead into the cache; random
// readers, which rarely read two neighbours in a row, cost nothing extra.
// Several streams are followed at once (nbdcopy splits an image across
// connections, a guest reads several files), each by where it goes next.
const MAX_STREAMS = 8;

interface Stream {
  /** The chunk index this stream would read next. */
  next: number;
  /** Highest index already asked for ahead of it. */
  ahead: number;
  /** Forward steps seen so far. */
  steps: number;
  lastUse: number;
}

export class ForwardReadAhead {
  private readonly streams: Stream[] = [];
  private clock = 0;

  constructor(
    private readonly chunkCount: number,
    private readonly depth: number,
    /** Fetches one chunk into the cache; failures are left to the real read. */
    private readonly fetchAhead: (index: number) => Promise<unknown>,
  ) {}

  /** Called for every chunk a read touches, in order. */
  onRead(index: number): void {
    if (this.depth <= 0) return;
    this.clock++;
    let s = this.streams.find((x) => x.next - 1 === index);
    if (s) {
      s.lastUse = this.clock; // the same chunk again
      return;
    }
    s = this.streams.find((x) => x.next === index);
    if (!s) {
      this.startStream(index);
      return;
    }
    s.next = index + 1;
    s.steps++;
    s.lastUse = this.clock;
    const until = Math.min(this.chunkCount - 1, index + this.depth);
    for (let i = Math.max(s.ahead + 1, index + 1); i <= until; i++) {
      s.ahead = i;
      this.fetchAhead(i).catch(() => {});
    }
  }

  /** A read that continues no stream may start one; the least recently used goes. */
  private startStream(index: number): void {
    const fresh: Stream = { next: index + 1, ahead: index, steps: 0, lastUse: this.clock };
    if (this.streams.length < MAX_STREAMS) {
      this.streams.push(fresh);
      return;
    }
    let oldest = 0;
    for (let i = 1; i < this.streams.length; i++) if (this.streams[i]!.lastUse < this.streams[oldest]!.lastUse) oldest = i;
    this.streams[oldest] = fresh;
  }
}
