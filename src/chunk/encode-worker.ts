// Worker thread: encodes chunks (hash, compress, encrypt) for the chunker.
import { parentPort } from 'node:worker_threads';
import { encodeChunk } from './codec.js';
import { serveTasks } from './worker-pool.js';
import { lowerThreadPriority } from '../util/thread-priority.js';
import type { EncodeTask, EncodeResult } from './chunker.js';

// Chunks queue up while the build that makes them runs; encoding them must
// not slow that build down (bounded: the chunker waits when too many queue).
lowerThreadPriority(10);

serveTasks<EncodeTask, EncodeResult>(parentPort!, (t) => {
  const plain = Buffer.from(t.plain, 0, t.length);
  const r = encodeChunk(plain, { compression: t.compression, level: t.level, encryption: t.encryption, salt: t.salt ? Buffer.from(t.salt) : undefined });
  // Hand the stored bytes back without a copy when they own their memory;
  // small Buffers live inside a shared pool and must be copied out first.
  const owns = r.stored.byteOffset === 0 && r.stored.byteLength === r.stored.buffer.byteLength;
  const stored = owns ? new Uint8Array(r.stored.buffer, 0, r.stored.length) : new Uint8Array(r.stored);
  return {
    value: { plain: t.plain, digest: r.digest, stored: stored.buffer as ArrayBuffer, storedLength: stored.length, key: r.key ? new Uint8Array(r.key) : undefined },
    transfer: [stored.buffer as ArrayBuffer, t.plain],
  };
});
