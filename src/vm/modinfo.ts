// The .modinfo section of a kernel module (an ELF64 relocatable object):
// NUL-separated "key=value" strings, among them "depends=jbd2,mbcache" --
// what depmod turns into modules.dep. Read directly, so a kernel package
// that ships no modules.dep (Debian's: depmod runs at install) needs no kmod.

export function readModinfo(elf: Buffer): Map<string, string[]> {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (elf[4] !== 2 || elf[5] !== 1) throw new Error('not a little-endian 64-bit ELF file');
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  const section = (i: number) => {
    const at = shoff + i * shentsize;
    if (at + 64 > elf.length) throw new Error('truncated ELF section table');
    return { name: elf.readUInt32LE(at), offset: Number(elf.readBigUInt64LE(at + 24)), size: Number(elf.readBigUInt64LE(at + 32)) };
  };
  const names = section(shstrndx);
  const out = new Map<string, string[]>();
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameEnd = elf.indexOf(0, names.offset + s.name);
    if (elf.toString('latin1', names.offset + s.name, nameEnd) !== '.modinfo') continue;
    for (const entry of elf.toString('utf8', s.offset, s.offset + s.size).split('\0')) {
      const eq = entry.indexOf('=');
      if (eq <= 0) continue;
      const key = entry.slice(0, eq);
      out.set(key, [...(out.get(key) ?? []), entry.slice(eq + 1)]);
    }
  }
  return out;
}

/** The module names in .modinfo's "depends=" (comma separated, may be empty). */
export function modinfoDepends(info: Map<string, string[]>): string[] {
  return (info.get('depends') ?? [])
    .flatMap((d) => d.split(','))
    .filter(Boolean)
    .map((d) => d.replace(/-/g, '_'));
}
