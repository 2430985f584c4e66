// Reads a whole archive into plain objects for comparison in tests.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { TarReader, type TarEntry, type TarReaderOptions } from '../../src/tar/index.js';
import { isSmrError, type SmrError } from '../../src/util/errors.js';

export interface Collected extends Omit<TarEntry, 'xattrs'> {
  /** xattrs as name → hex, for deepEqual. */
  xattrs: Record<string, string>;
  sha256: string;
  /** The body itself when it is small (for assertions on content). */
  body?: Buffer;
}

export function hexXattrs(m: Map<string, Buffer>): Record<string, string> {
  return Object.fromEntries([...m].map(([k, v]) => [k, v.toString('hex')]));
}

export async function collect(src: AsyncIterable<Uint8Array>, opts: TarReaderOptions & { keepBodies?: number } = {}): Promise<Collected[]> {
  const reader = new TarReader(src, opts);
  const out: Collected[] = [];
  for (let e = await reader.next(); e !== null; e = await reader.next()) {
    const h = createHash('sha256');
    const parts: Buffer[] = [];
    let n = 0;
    await reader.readBody((c) => {
      h.update(c);
      n += c.length;
      if (n <= (opts.keepBodies ?? 4096)) parts.push(Buffer.from(c));
    });
    assert.equal(n, e.size, `body of ${e.path} delivered ${n} bytes, size says ${e.size}`);
    const c: Collected = { ...e, xattrs: hexXattrs(e.xattrs), sha256: h.digest('hex') };
    if (n <= (opts.keepBodies ?? 4096)) c.body = Buffer.concat(parts);
    out.push(c);
  }
  return out;
}

/** Runs f and returns the SmrError it must throw; any other outcome fails the test. */
export async function smrErrorOf(f: () => Promise<unknown>): Promise<SmrError> {
  try {
    await f();
  } catch (e) {
    if (isSmrError(e)) return e;
    throw new assert.AssertionError({ message: `expected an SmrError, got ${String((e as Error)?.stack ?? e)}` });
  }
  throw new assert.AssertionError({ message: 'expected an SmrError, but it succeeded' });
}

export async function expectTarError(f: () => Promise<unknown>, code: string, message?: RegExp): Promise<SmrError> {
  const e = await smrErrorOf(f);
  assert.equal(e.code, code, `code of: ${e.message}`);
  if (message) assert.match(e.message, message);
  return e;
}
