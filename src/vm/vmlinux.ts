// The uncompressed kernel (ELF vmlinux) inside a bzImage. QEMU boots such
// an ELF through its PVH entry point (CONFIG_PVH, which Debian enables), so
// the guest skips the in-kernel decompressor -- about 4 s under TCG.
//
// The x86 boot protocol locates the payload: setup_sects at 0x1f1 (0 means
// 4), the "HdrS" signature at 0x202, and (protocol 2.08+) payload_offset
// and payload_length at 0x248/0x24c, relative to the protected-mode code
// that starts after the (setup_sects + 1) * 512 bytes of real-mode setup.
import { compressionOf, decompress } from './decompress.js';

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

function bzImagePayload(image: Buffer): Buffer | undefined {
  if (image.length < 0x250 || image.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined;
  if (image.readUInt16LE(0x206) < 0x208) return undefined;
  const setupSects = image[0x1f1] || 4;
  const start = (setupSects + 1) * 512 + image.readUInt32LE(0x248);
  const length = image.readUInt32LE(0x24c);
  if (length === 0 || start + length > image.length) return undefined;
  return image.subarray(start, start + length);
}

/** The ELF vmlinux in the bzImage IMAGE, or undefined when it cannot be had. */
export async function extractVmlinux(image: Buffer): Promise<Buffer | undefined> {
  const payload = bzImagePayload(image);
  if (!payload) return undefined;
  const how = compressionOf(payload);
  if (!how) return undefined;
  try {
    const elf = await decompress(payload, how);
    return elf.subarray(0, 4).equals(ELF_MAGIC) ? elf : undefined;
  } catch {
    return undefined;
  }
}
