// NBD_CMD_READ. The export reads straight into the reply buffer, behind room
// left for the header, so each reply (or reply chunk) is one socket write and
// the data is never copied. With structured replies, ranges the export
// reports as reading zero go out as OFFSET_HOLE chunks and are not read, and
// large data ranges are read in pieces sent as each completes.
import {
  CMD_FLAG_DF,
  REPLY_FLAG_DONE,
  REPLY_TYPE_OFFSET_DATA,
  SIMPLE_REPLY_HEADER_SIZE,
  STATE_ZERO,
  STRUCTURED_HEADER_SIZE,
} from './constants.js';
import type { BlockExport } from './export.js';
import { extentRuns } from './extents.js';
import { failure, type RequestFailure } from './errors.js';
import { allocReply } from './slab.js';
import { errorChunk, holeChunk, noneChunk, simpleReply, writeChunkHeader, writeOffset, writeSimpleHeader, type Cookie } from './reply.js';

export interface ReadRequest extends Cookie {
  flags: number;
  offset: number;
  length: number;
}

export interface ReplySink {
  send(b: Buffer): void;
}

/** Data pieces of a structured read are at most this long, cut at multiples of it. */
const READ_PIECE = 1 << 20;
/**
 * Shorter reads are read whole, holes and all: asking the export for extents
 * costs more than sending a few KiB of zeros.
 */
const HOLE_CHECK_MIN = 64 << 10;
/** Header plus offset in front of OFFSET_DATA. */
const DATA_HEADER = STRUCTURED_HEADER_SIZE + 8;

/** Serves one read; resolves to the failure it reported, if any. Never rejects. */
export async function serveRead(
  exp: BlockExport,
  req: ReadRequest,
  structured: boolean,
  out: ReplySink,
): Promise<RequestFailure | undefined> {
  if (!structured) return simpleRead(exp, req, out);
  if (req.length === 0) {
    out.send(noneChunk(req));
    return undefined;
  }
  if (req.flags & CMD_FLAG_DF || req.length < HOLE_CHECK_MIN) return dataChunk(exp, req, req.offset, req.length, out);
  return structuredRead(exp, req, out);
}

async function simpleRead(exp: BlockExport, req: ReadRequest, out: ReplySink): Promise<RequestFailure | undefined> {
  const b = allocReply(SIMPLE_REPLY_HEADER_SIZE + req.length);
  try {
    if (req.length > 0) await exp.read(b.subarray(SIMPLE_REPLY_HEADER_SIZE), req.offset);
  } catch (e) {
    const f = failure(e);
    out.send(simpleReply(f.errno, req));
    return f;
  }
  writeSimpleHeader(b, 0, 0, req);
  out.send(b);
  return undefined;
}

/** The whole read as one final OFFSET_DATA chunk, or an error chunk. */
async function dataChunk(exp: BlockExport, c: Cookie, offset: number, length: number, out: ReplySink): Promise<RequestFailure | undefined> {
  const b = allocReply(DATA_HEADER + length);
  try {
    await exp.read(b.subarray(DATA_HEADER), offset);
  } catch (e) {
    const f = failure(e);
    out.send(errorChunk(c, f.errno, f.message));
    return f;
  }
  writeChunkHeader(b, 0, REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, c, 8 + length);
  writeOffset(b, STRUCTURED_HEADER_SIZE, offset);
  out.send(b);
  return undefined;
}

async function structuredRead(exp: BlockExport, req: ReadRequest, out: ReplySink): Promise<RequestFailure | undefined> {
  const { holes, data } = await layout(exp, req);
  const parts = pieces(data);
  if (parts.length === 1 && holes.length === 0) return dataChunk(exp, req, req.offset, req.length, out);

  // Holes are known now; the last chunk sent carries DONE, unless a piece fails.
  for (let i = 0; i < holes.length; i += 2) {
    out.send(holeChunk(req, holes[i]!, holes[i + 1]!, parts.length === 0 && i + 2 === holes.length));
  }
  let left = parts.length;
  let failed: RequestFailure | undefined;
  await Promise.all(
    parts.map(async ([offset, length]) => {
      const b = allocReply(DATA_HEADER + length);
      try {
        await exp.read(b.subarray(DATA_HEADER), offset);
      } catch (e) {
        failed ??= failure(e);
      }
      left--;
      if (failed) return;
      writeChunkHeader(b, 0, left === 0 ? REPLY_FLAG_DONE : 0, REPLY_TYPE_OFFSET_DATA, req, 8 + length);
      writeOffset(b, STRUCTURED_HEADER_SIZE, offset);
      out.send(b);
    }),
  );
  // Chunks already sent stay valid; the error (final) says the read failed.
  if (failed) out.send(errorChunk(req, failed.errno, failed.message));
  return failed;
}

/**
 * Where the read range has zeros (holes) and data, as flat (offset, length)
 * pairs. Whatever the export does not describe, or cannot, is data.
 */
async function layout(exp: BlockExport, req: ReadRequest): Promise<{ holes: number[]; data: number[] }> {
  let runs: number[] = [];
  try {
    runs = extentRuns(await exp.blockStatus(req.offset, req.length), req.length, Infinity);
  } catch {
    // Reading is still correct, only less sparse: the read itself will report a real failure.
  }
  const holes: number[] = [];
  const data: number[] = [];
  let pos = req.offset;
  for (let i = 0; i < runs.length; i += 2) {
    const len = runs[i]!;
    (runs[i + 1]! & STATE_ZERO ? holes : data).push(pos, len);
    pos += len;
  }
  const end = req.offset + req.length;
  if (pos < end) {
    const n = data.length;
    // Extend the last data run when it ends where the uncovered tail starts.
    if (n > 0 && data[n - 2]! + data[n - 1]! === pos) data[n - 1]! += end - pos;
    else data.push(pos, end - pos);
  }
  return { holes, data };
}

/** Data runs cut at multiples of READ_PIECE, as [offset, length] pairs. */
function pieces(data: number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < data.length; i += 2) {
    let pos = data[i]!;
    const end = pos + data[i + 1]!;
    while (pos < end) {
      const stop = Math.min(end, (Math.floor(pos / READ_PIECE) + 1) * READ_PIECE);
      out.push([pos, stop - pos]);
      pos = stop;
    }
  }
  return out;
}
