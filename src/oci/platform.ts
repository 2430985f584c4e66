// Platforms as "os/arch[/variant]" and how an index entry is matched to the
// one asked for. Aliases and default variants are normalised first (like
// containerd's), so "linux/arm64" finds an entry written "linux/arm64/v8".
import { SmrError } from '../util/errors.js';
import type { Descriptor, Platform } from './types.js';

const ARCH_OF_NODE: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le', // Node ships ppc64 builds only for little-endian Linux
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
};

/** The platform of this host, e.g. "linux/amd64" or "linux/arm/v7". */
export function defaultPlatform(): string {
  const arch = ARCH_OF_NODE[process.arch] ?? process.arch;
  if (arch === 'arm') {
    const v = (process.config.variables as Record<string, unknown>).arm_version;
    return `linux/arm/v${typeof v === 'string' || typeof v === 'number' ? v : 7}`;
  }
  return `linux/${arch}`;
}

export function parsePlatform(spec: string): Platform {
  const parts = spec.trim().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p))) {
    throw new SmrError('INVALID_PLATFORM', `invalid platform "${spec}": expected OS/ARCH[/VARIANT], e.g. linux/arm64`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** Canonical spelling: amd64/arm64/arm, default variants made explicit. */
function normalizePlatform(p: Platform): Required<Platform> {
  const os = (p.os ?? '').toLowerCase();
  let arch = (p.architecture ?? '').toLowerCase();
  let variant = (p.variant ?? '').toLowerCase();
  if (arch === 'x86_64' || arch === 'x86-64') arch = 'amd64';
  else if (arch === 'aarch64') arch = 'arm64';
  else if (arch === 'i386' || arch === 'i686') arch = '386';
  else if (arch === 'armhf') [arch, variant] = ['arm', 'v7'];
  else if (arch === 'armel') [arch, variant] = ['arm', 'v6'];
  if (/^\d+$/.test(variant)) variant = `v${variant}`;
  if (arch === 'arm64' && (variant === '' || variant === 'v8')) variant = 'v8';
  if (arch === 'arm' && variant === '') variant = 'v7';
  if (arch === 'amd64' && variant === 'v1') variant = '';
  return { os, architecture: arch, variant };
}

/**
 * How well `have` fits `want`: 0 = not at all, 2 = exact, 1 = acceptable
 * (want names no variant and have has one the host can run, e.g. amd64/v2).
 */
export function platformScore(want: Platform, have: Platform): number {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return 0;
  if (w.variant === h.variant) return 2;
  return want.variant ? 0 : 1;
}

/** The best-matching entry of an index, or undefined. */
export function pickPlatform(want: Platform, entries: Descriptor[]): Descriptor | undefined {
  let best: Descriptor | undefined;
  let bestScore = 0;
  for (const d of entries) {
    if (!d.platform) continue;
    const score = platformScore(want, d.platform);
    if (score > bestScore) [best, bestScore] = [d, score];
  }
  return best;
}

/** "linux/amd64, linux/arm64/v8" for messages; attestation entries left out. */
export function listPlatforms(entries: Descriptor[]): string {
  const names = entries
    .filter((d) => d.platform && d.platform.os !== 'unknown')
    .map((d) => formatPlatform(d.platform as Platform));
  return names.length > 0 ? [...new Set(names)].join(', ') : '(none declared)';
}
