// What the server tells a client about an export: transmission flags and size
// constraints, derived from what the export can actually do.
import {
  FLAG_CAN_MULTI_CONN,
  FLAG_HAS_FLAGS,
  FLAG_READ_ONLY,
  FLAG_SEND_CACHE,
  FLAG_SEND_DF,
  FLAG_SEND_FAST_ZERO,
  FLAG_SEND_FLUSH,
  FLAG_SEND_FUA,
  FLAG_SEND_TRIM,
  FLAG_SEND_WRITE_ZEROES,
  MAX_PAYLOAD,
} from './constants.js';
import type { BlockExport } from './export.js';

/** Writes go to the export only if it says it is writable and can write. */
export function isWritable(exp: BlockExport): boolean {
  return !exp.readOnly && typeof exp.write === 'function';
}

/**
 * Trim falls back to a no-op and write-zeroes to writing zeroes, so a
 * writable export always gets both. CAN_MULTI_CONN: a read-only export has
 * nothing to flush, and a writable one is assumed to share one cache among
 * connections unless it says otherwise.
 */
export function transmissionFlags(exp: BlockExport, structured: boolean): number {
  let f = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_CACHE;
  if (structured) f |= FLAG_SEND_DF;
  if (isWritable(exp)) {
    f |= FLAG_SEND_FUA | FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES | FLAG_SEND_FAST_ZERO;
    if ((exp as { multiConn?: boolean }).multiConn !== false) f |= FLAG_CAN_MULTI_CONN;
  } else {
    f |= FLAG_READ_ONLY | FLAG_CAN_MULTI_CONN;
  }
  return f;
}

/** The preferred block size as the spec wants it: a power of 2 in [512, MAX_PAYLOAD]. */
export function preferredBlockSize(exp: BlockExport): number {
  const want = exp.preferredBlockSize ?? 4096;
  if (!Number.isFinite(want) || want <= 512) return 512;
  if (want >= MAX_PAYLOAD) return MAX_PAYLOAD;
  return 2 ** Math.floor(Math.log2(want));
}

export type ExportList = readonly BlockExport[] | (() => readonly BlockExport[]);

export function listExports(list: ExportList): readonly BlockExport[] {
  return typeof list === 'function' ? list() : list;
}

/** The empty name means the default export: the first one. Throws for an export we cannot describe. */
export function findExport(list: ExportList, name: string): BlockExport | undefined {
  const all = listExports(list);
  const exp = name === '' ? all[0] : all.find((e) => e.name === name);
  if (exp && !(Number.isSafeInteger(exp.size) && exp.size >= 0)) {
    throw new Error(`export ${JSON.stringify(exp.name)} has an invalid size ${String(exp.size)}`);
  }
  return exp;
}
