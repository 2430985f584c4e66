// Worker thread: verifies and decodes stored chunks (digest, decryption,
// decompression) for the read path, so that serving is not capped at one core.
import { parentPort } from 'node:worker_threads';
import { decodeChunk } from './codec.js';
import type { DecodeTask } from './chunk-decoder.js';
import { serveTasks } from './worker-pool.js';

serveTasks<DecodeTask, ArrayBuffer>(parentPort!, (t) => {
  const out = decodeChunk(Buffer.from(t.stored.buffer, t.stored.byteOffset, t.stored.byteLength), { digest: t.digest, key: t.key ? Buffer.from(t.key) : undefined, salt: t.salt ? Buffer.from(t.salt) : undefined }, t.length);
  // Hand the plaintext back without a copy when it owns its memory.
  const owns = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength;
  const buf = (owns ? out.buffer : new Uint8Array(out).buffer) as ArrayBuffer;
  return { value: buf, transfer: [buf] };
});
