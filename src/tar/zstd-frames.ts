// Cuts a zstd stream so that every frame ends at the end of a piece.
//
// Why: node:zlib's zstd decompressor (Node 22 and 24) ends its output when a
// frame ends with input left in the same write, silently dropping every later
// frame (nodejs/node#64741) and any garbage after the last one. A layer may
// hold many frames (zstd:chunked, `cat a.zst b.zst`, skippable frames), so
// pieces are cut at frame ends, where libzstd simply goes on with the next
// frame; and anything after a frame that is not another frame is refused here.
//
// Only headers are read (RFC 8878 3.1): frame header, block headers, the
// optional checksum, skippable frame sizes; block contents pass untouched.

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

/** What the parser waits for: header bytes to read, or content to pass. */
type Step =
  | { read: number; then: (h: Buffer) => Step }
  | { pass: number; then: () => Step }
  | { frameEnd: true };

const END: Step = { frameEnd: true };

const startOfFrame = (first: boolean): Step => ({
  read: 4,
  then: (h) => {
    const magic = h.readUInt32LE(0);
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) return { read: 4, then: (s) => ({ pass: s.readUInt32LE(0), then: () => END }) };
    if (magic !== ZSTD_MAGIC) throw new Error(first ? 'not a zstd frame' : 'data after the last zstd frame is not a zstd frame');
    return { read: 1, then: frameHeader };
  },
});

function frameHeader(fhd: Buffer): Step {
  const d = fhd[0]!;
  if (d & 0x08) throw new Error('reserved bit set in the zstd frame header');
  const singleSegment = (d >> 5) & 1;
  const rest = (singleSegment ? 0 : 1) + [0, 1, 2, 4][d & 3]! + [singleSegment, 2, 4, 8][d >> 6]!;
  const checksum = (d & 0x04) !== 0;
  const blocks = block(checksum);
  return rest === 0 ? blocks : { read: rest, then: () => blocks };
}

function block(checksum: boolean): Step {
  return {
    read: 3,
    then: (h) => {
      const v = h.readUIntLE(0, 3);
      const type = (v >> 1) & 3;
      if (type === 3) throw new Error('reserved zstd block type');
      // An RLE block holds one byte however many it stands for.
      const size = type === 1 ? 1 : v >>> 3;
      const last = (v & 1) === 1;
      const after = (): Step => (!last ? block(checksum) : checksum ? { pass: 4, then: () => END } : END);
      return { pass: size, then: after };
    },
  };
}

/** `src` again, byte for byte, with a piece boundary after every frame. */
export async function* cutAtFrameEnds(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let step: Step = startOfFrame(true);
  let framesSeen = 0;
  let started = false; // whether bytes of the current frame have been seen
  const header: Buffer[] = [];
  let headerBytes = 0;
  for await (const buf of src) {
    let from = 0;
    let at = 0;
    for (;;) {
      if ('frameEnd' in step) {
        if (at > from) yield buf.subarray(from, at);
        from = at;
        framesSeen++;
        started = false;
        step = startOfFrame(false);
        continue;
      }
      if ('pass' in step && step.pass === 0) {
        step = step.then();
        continue;
      }
      if (at === buf.length) break;
      started = true;
      if ('pass' in step) {
        const n = Math.min(step.pass, buf.length - at);
        at += n;
        step = n === step.pass ? step.then() : { pass: step.pass - n, then: step.then };
      } else {
        const n = Math.min(step.read - headerBytes, buf.length - at);
        header.push(buf.subarray(at, at + n));
        headerBytes += n;
        at += n;
        if (headerBytes === step.read) {
          const h = Buffer.concat(header);
          header.length = 0;
          headerBytes = 0;
          step = step.then(h);
        }
      }
    }
    if (at > from) yield buf.subarray(from, at);
  }
  if (started || framesSeen === 0) throw new Error('the data ends inside a zstd frame');
}
