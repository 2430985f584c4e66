// Encoding of what the server sends during the handshake.
import {
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  INFO_BLOCK_SIZE,
  INFO_DESCRIPTION,
  INFO_EXPORT,
  INFO_NAME,
  INIT_MAGIC,
  OPTION_REPLY_MAGIC,
  OPTS_MAGIC,
  REP_INFO,
  REP_META_CONTEXT,
  REP_SERVER,
} from './constants.js';

/** NBDMAGIC, IHAVEOPT and the handshake flags: the server's first 18 bytes. */
export function greeting(): Buffer {
  const b = Buffer.allocUnsafe(18);
  b.writeUInt32BE(INIT_MAGIC[0], 0);
  b.writeUInt32BE(INIT_MAGIC[1], 4);
  b.writeUInt32BE(OPTS_MAGIC[0], 8);
  b.writeUInt32BE(OPTS_MAGIC[1], 12);
  b.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
  return b;
}

export function optionReply(option: number, type: number, data?: Buffer): Buffer {
  const len = data?.length ?? 0;
  const b = Buffer.allocUnsafe(20 + len);
  b.writeUInt32BE(OPTION_REPLY_MAGIC[0], 0);
  b.writeUInt32BE(OPTION_REPLY_MAGIC[1], 4);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(type >>> 0, 12);
  b.writeUInt32BE(len, 16);
  data?.copy(b, 20);
  return b;
}

/** An error reply with a message for humans. */
export function optionError(option: number, type: number, message: string): Buffer {
  return optionReply(option, type, Buffer.from(message.slice(0, 1024), 'utf8'));
}

export function serverReply(option: number, name: string, description: string | undefined): Buffer {
  const n = Buffer.from(name, 'utf8');
  const d = Buffer.from(description ?? '', 'utf8');
  const data = Buffer.allocUnsafe(4 + n.length + d.length);
  data.writeUInt32BE(n.length, 0);
  n.copy(data, 4);
  d.copy(data, 4 + n.length);
  return optionReply(option, REP_SERVER, data);
}

export function metaContextReply(option: number, id: number, name: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  const data = Buffer.allocUnsafe(4 + n.length);
  data.writeUInt32BE(id, 0);
  n.copy(data, 4);
  return optionReply(option, REP_META_CONTEXT, data);
}

function info(option: number, type: number, body: Buffer): Buffer {
  const data = Buffer.allocUnsafe(2 + body.length);
  data.writeUInt16BE(type, 0);
  body.copy(data, 2);
  return optionReply(option, REP_INFO, data);
}

/** size + flags: the body of NBD_INFO_EXPORT and of the NBD_OPT_EXPORT_NAME reply. */
export function sizeAndFlags(size: number, flags: number, zeroes = 0): Buffer {
  const b = Buffer.alloc(10 + zeroes);
  b.writeUInt32BE(Math.floor(size / 2 ** 32), 0);
  b.writeUInt32BE(size >>> 0, 4);
  b.writeUInt16BE(flags, 8);
  return b;
}

export function infoExport(option: number, size: number, flags: number): Buffer {
  return info(option, INFO_EXPORT, sizeAndFlags(size, flags));
}

export function infoName(option: number, name: string): Buffer {
  return info(option, INFO_NAME, Buffer.from(name, 'utf8'));
}

export function infoDescription(option: number, description: string): Buffer {
  return info(option, INFO_DESCRIPTION, Buffer.from(description, 'utf8'));
}

export function infoBlockSize(option: number, min: number, preferred: number, max: number): Buffer {
  const b = Buffer.allocUnsafe(12);
  b.writeUInt32BE(min, 0);
  b.writeUInt32BE(preferred, 4);
  b.writeUInt32BE(max, 8);
  return info(option, INFO_BLOCK_SIZE, b);
}
