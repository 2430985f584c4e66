// Encoding of transmission replies. Headers are written in place in front of
// payloads where the caller reserved room, so a reply goes out as one buffer.
import {
  REPLY_FLAG_DONE,
  REPLY_TYPE_BLOCK_STATUS,
  REPLY_TYPE_ERROR,
  REPLY_TYPE_NONE,
  REPLY_TYPE_OFFSET_HOLE,
  SIMPLE_REPLY_HEADER_SIZE,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_HEADER_SIZE,
  STRUCTURED_REPLY_MAGIC,
} from './constants.js';

/** The client's opaque 64-bit cookie, as two halves. */
export interface Cookie {
  cookieHi: number;
  cookieLo: number;
}

export function writeSimpleHeader(b: Buffer, at: number, error: number, c: Cookie): void {
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, at);
  b.writeUInt32BE(error, at + 4);
  b.writeUInt32BE(c.cookieHi, at + 8);
  b.writeUInt32BE(c.cookieLo, at + 12);
}

export function simpleReply(error: number, c: Cookie): Buffer {
  const b = Buffer.allocUnsafe(SIMPLE_REPLY_HEADER_SIZE);
  writeSimpleHeader(b, 0, error, c);
  return b;
}

export function writeChunkHeader(b: Buffer, at: number, flags: number, type: number, c: Cookie, length: number): void {
  b.writeUInt32BE(STRUCTURED_REPLY_MAGIC, at);
  b.writeUInt16BE(flags, at + 4);
  b.writeUInt16BE(type, at + 6);
  b.writeUInt32BE(c.cookieHi, at + 8);
  b.writeUInt32BE(c.cookieLo, at + 12);
  b.writeUInt32BE(length, at + 16);
}

/** A 64-bit offset; offsets are below 2^53. */
export function writeOffset(b: Buffer, at: number, offset: number): void {
  b.writeUInt32BE(Math.floor(offset / 2 ** 32), at);
  b.writeUInt32BE(offset >>> 0, at + 4);
}

export function noneChunk(c: Cookie): Buffer {
  const b = Buffer.allocUnsafe(STRUCTURED_HEADER_SIZE);
  writeChunkHeader(b, 0, REPLY_FLAG_DONE, REPLY_TYPE_NONE, c, 0);
  return b;
}

export function holeChunk(c: Cookie, offset: number, length: number, done: boolean): Buffer {
  const b = Buffer.allocUnsafe(STRUCTURED_HEADER_SIZE + 12);
  writeChunkHeader(b, 0, done ? REPLY_FLAG_DONE : 0, REPLY_TYPE_OFFSET_HOLE, c, 12);
  writeOffset(b, STRUCTURED_HEADER_SIZE, offset);
  b.writeUInt32BE(length, STRUCTURED_HEADER_SIZE + 8);
  return b;
}

/** NBD_REPLY_TYPE_ERROR, always final here. */
export function errorChunk(c: Cookie, error: number, message: string): Buffer {
  const msg = Buffer.from(message, 'utf8').subarray(0, 4096);
  const b = Buffer.allocUnsafe(STRUCTURED_HEADER_SIZE + 6 + msg.length);
  writeChunkHeader(b, 0, REPLY_FLAG_DONE, REPLY_TYPE_ERROR, c, 6 + msg.length);
  b.writeUInt32BE(error, STRUCTURED_HEADER_SIZE);
  b.writeUInt16BE(msg.length, STRUCTURED_HEADER_SIZE + 4);
  msg.copy(b, STRUCTURED_HEADER_SIZE + 6);
  return b;
}

/** One final NBD_REPLY_TYPE_BLOCK_STATUS chunk; descriptors as (length, flags) pairs. */
export function blockStatusChunk(c: Cookie, contextId: number, descriptors: number[]): Buffer {
  const len = 4 + descriptors.length * 4;
  const b = Buffer.allocUnsafe(STRUCTURED_HEADER_SIZE + len);
  writeChunkHeader(b, 0, REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, c, len);
  b.writeUInt32BE(contextId, STRUCTURED_HEADER_SIZE);
  let at = STRUCTURED_HEADER_SIZE + 4;
  for (const v of descriptors) {
    b.writeUInt32BE(v, at);
    at += 4;
  }
  return b;
}

/** An error reply in the form the session negotiated. */
export function errorReply(structured: boolean, c: Cookie, error: number, message: string): Buffer {
  return structured ? errorChunk(c, error, message) : simpleReply(error, c);
}
