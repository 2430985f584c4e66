// Pre-shared keys in the format nbdkit, qemu and GnuTLS's psktool use: one
// "identity:hexkey" per line. Keys never appear in errors, only line numbers.
import { readFile } from 'node:fs/promises';

export async function readPskFile(path: string): Promise<Map<string, Buffer>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the PSK file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parsePsk(text, path);
}

export function parsePsk(text: string, where: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) continue;
    const at = `${where}, line ${i + 1}`;
    const colon = line.lastIndexOf(':');
    if (colon <= 0) throw new Error(`${at}: expected IDENTITY:HEXKEY`);
    const identity = line.slice(0, colon);
    const hex = line.slice(colon + 1);
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw new Error(`${at}: the key of ${JSON.stringify(identity)} is not hexadecimal`);
    if (keys.has(identity)) throw new Error(`${at}: identity ${JSON.stringify(identity)} appears twice`);
    keys.set(identity, Buffer.from(hex, 'hex'));
  }
  if (keys.size === 0) throw new Error(`${where}: no IDENTITY:HEXKEY line`);
  return keys;
}
