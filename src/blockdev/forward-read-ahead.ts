// Read-ahead for forward scans: a reader that walks the image chunk after
// chunk (a sequential copy, a guest's readahead) would otherwise pay one
// store round trip per chunk. Once two chunks were read in a row, the next
// `depth` chunks are fetched ahead into the cache; random readers, which
// rarely read two neighbours in a row, cost nothing extra.
export class ForwardReadAhead {
  private next = -1;
  // Highest chunk index already asked for ahead of the reader.
  private ahead = -1;

  constructor(
    private readonly chunkCount: number,
    private readonly depth: number,
    /** Fetches one chunk into the cache; failures are left to the real read. */
    private readonly fetchAhead: (index: number) => Promise<unknown>,
  ) {}

  /** Called for every chunk a read touches, in order. */
  onRead(index: number): void {
    if (this.depth <= 0 || index === this.next - 1) return; // same chunk again
    const forward = index === this.next;
    this.next = index + 1;
    if (!forward) {
      this.ahead = index;
      return;
    }
    const until = Math.min(this.chunkCount - 1, index + this.depth);
    for (let i = Math.max(this.ahead + 1, index + 1); i <= until; i++) {
      this.ahead = i;
      this.fetchAhead(i).catch(() => {});
    }
  }
}
