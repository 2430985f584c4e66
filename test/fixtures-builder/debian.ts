// Debian bookworm packages for the fixture images: a private apt root per
// architecture (its lists pin the versions, so rebuilds from the same cache
// get the same packages), dependency closure, cached .debs, dpkg-deb -x,
// debootstrap from a cached tarball, and commands run in a chroot.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, chmodSync, chownSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import { note, sh, trySh } from './commands.js';

const MIRROR = 'http://deb.debian.org/debian';
const SECURITY = 'http://deb.debian.org/debian-security';
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

export interface AptRoot {
  arch: string;
  dir: string;
  env: NodeJS.ProcessEnv;
}

const ready = new Map<string, AptRoot>();

export function aptRoot(cache: string, arch: string): AptRoot {
  const known = ready.get(arch);
  if (known) return known;
  const dir = join(cache, 'apt', arch);
  for (const d of ['etc/apt/apt.conf.d', 'etc/apt/preferences.d', 'etc/apt/sources.list.d', 'var/lib/apt/lists/partial', 'var/cache/apt/archives/partial', 'var/lib/dpkg']) {
    mkdirSync(join(dir, d), { recursive: true });
  }
  if (!existsSync(join(dir, 'var/lib/dpkg/status'))) writeFileSync(join(dir, 'var/lib/dpkg/status'), '');
  writeFileSync(join(dir, 'etc/apt/sources.list'), [
    `deb [signed-by=${KEYRING}] ${MIRROR} bookworm main`,
    `deb [signed-by=${KEYRING}] ${MIRROR} bookworm-updates main`,
    `deb [signed-by=${KEYRING}] ${SECURITY} bookworm-security main`,
  ].join('\n') + '\n');
  writeFileSync(join(dir, 'etc/apt/apt.conf'), [
    `Dir "${dir}/";`,
    `Dir::State::status "${dir}/var/lib/dpkg/status";`,
    `APT::Architecture "${arch}";`,
    `APT::Architectures { "${arch}"; };`,
    'Acquire::Languages "none";',
    'Acquire::Retries "3";',
    'APT::Install-Recommends "false";',
    'APT::Sandbox::User "root";',
  ].join('\n') + '\n');
  const root: AptRoot = { arch, dir, env: { ...process.env, APT_CONFIG: join(dir, 'etc/apt/apt.conf') } };
  const lists = readdirSync(join(dir, 'var/lib/apt/lists')).filter((f) => f.endsWith('_Packages'));
  if (lists.length === 0) {
    note(`apt-get update (private apt root for ${arch})`);
    sh('apt-get', ['update'], { env: root.env });
  }
  ready.set(arch, root);
  return root;
}

interface Paragraph {
  [field: string]: string;
}

function paragraphs(text: string): Paragraph[] {
  return text.split(/\n\n+/).filter((p) => p.trim() !== '').map((p) => {
    const out: Paragraph = {};
    let last = '';
    for (const line of p.split('\n')) {
      if (/^\s/.test(line)) out[last] += `\n${line}`;
      else {
        const i = line.indexOf(':');
        last = line.slice(0, i);
        out[last] = line.slice(i + 1).trim();
      }
    }
    return out;
  });
}

/** "name=version" of each package and the packages it needs that `have` lacks. */
export function resolve(apt: AptRoot, wanted: string[], have: string[], work: string): string[] {
  // apt-get -s against a status file claiming `have` is installed, without
  // their dependencies (the images carry no dpkg database).
  const status = join(work, 'resolve-status');
  const shown = have.length === 0 ? '' : sh('apt-cache', ['show', '--no-all-versions', ...have], { env: apt.env, capture: true });
  const fake = paragraphs(shown).map((p) => {
    const keep = Object.entries(p).filter(([k]) => !/^(Depends|Pre-Depends|Recommends|Suggests|Breaks|Conflicts|Enhances)$/.test(k));
    return [`Package: ${p.Package}`, 'Status: install ok installed', ...keep.filter(([k]) => k !== 'Package').map(([k, v]) => `${k}: ${v}`)].join('\n');
  });
  writeFileSync(status, fake.join('\n\n') + '\n');
  const sim = sh('apt-get', ['-s', '-o', `Dir::State::status=${status}`, '-o', 'Dir::Cache::pkgcache=', '-o', 'Dir::Cache::srcpkgcache=', 'install', ...wanted], { env: apt.env, capture: true });
  const out = new Set<string>();
  for (const m of sim.matchAll(/^Inst (\S+) (?:\[[^\]]*\] )?\((\S+)/gm)) out.add(`${m[1]}=${m[2]}`);
  return [...out].sort();
}

/** name=version for exactly these packages (no dependencies). */
export function versions(apt: AptRoot, names: string[]): string[] {
  const seen = new Map<string, string>();
  for (const p of paragraphs(sh('apt-cache', ['show', '--no-all-versions', ...names], { env: apt.env, capture: true }))) {
    if (!seen.has(p.Package!)) seen.set(p.Package!, p.Version!);
  }
  const missing = names.filter((n) => !seen.has(n));
  if (missing.length > 0) throw new Error(`package(s) not found for ${apt.arch}: ${missing.join(' ')}`);
  return names.map((n) => `${n}=${seen.get(n)}`);
}

const sha256File = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** The cached .deb of each name=version, downloaded (and checked) when missing. */
export function fetchDebs(apt: AptRoot, cache: string, pins: string[]): Map<string, string> {
  const dir = join(cache, 'debs', apt.arch);
  mkdirSync(dir, { recursive: true });
  const out = new Map<string, string>();
  const missing: Array<{ pin: string; path: string; sha: string }> = [];
  for (const p of paragraphs(sh('apt-cache', ['show', ...pins], { env: apt.env, capture: true }))) {
    const pin = `${p.Package}=${p.Version}`;
    if (out.has(pin) || !pins.includes(pin)) continue;
    const path = join(dir, basename(p.Filename!));
    out.set(pin, path);
    if (!existsSync(path) || sha256File(path) !== p.SHA256) missing.push({ pin, path, sha: p.SHA256! });
  }
  if (missing.length > 0) {
    const dl = join(dir, '.download');
    rmSync(dl, { recursive: true, force: true });
    mkdirSync(dl);
    note(`downloading ${missing.length} .deb(s) for ${apt.arch}`);
    sh('apt-get', ['download', ...missing.map((m) => m.pin)], { env: apt.env, cwd: dl });
    const got = readdirSync(dl);
    for (const m of missing) {
      // apt-get download names files name_version_arch.deb (':' as %3a); no '_' in package names.
      const file = got.find((f) => f.startsWith(`${m.pin.split('=')[0]}_`));
      if (file === undefined) throw new Error(`download of ${m.pin} failed`);
      if (sha256File(join(dl, file)) !== m.sha) throw new Error(`sha256 mismatch for ${m.pin}`);
      renameSync(join(dl, file), m.path);
    }
    rmSync(dl, { recursive: true, force: true });
  }
  const lost = pins.filter((p) => !out.has(p));
  if (lost.length > 0) throw new Error(`no .deb found for: ${lost.join(' ')}`);
  return out;
}

/**
 * dpkg-deb -x into root, plus distroless's record of it for scanners:
 * /var/lib/dpkg/status.d/<name> (the control file) and <name>.md5sums.
 */
export function extractDeb(deb: string, name: string, root: string): void {
  sh('dpkg-deb', ['-x', deb, root]);
  const statusDir = join(root, 'var/lib/dpkg/status.d');
  mkdirSync(statusDir, { recursive: true });
  writeFileSync(join(statusDir, name), sh('dpkg-deb', ['-f', deb], { capture: true }), 'latin1');
  chmodSync(join(statusDir, name), 0o644);
  const md5 = trySh('dpkg-deb', ['-I', deb, 'md5sums']);
  if (md5.ok) {
    writeFileSync(join(statusDir, `${name}.md5sums`), md5.out, 'latin1');
    chmodSync(join(statusDir, `${name}.md5sums`), 0o644);
  }
}

/** What apt and debootstrap leave that differs from run to run. */
export function normaliseRootfs(root: string, epoch: number): void {
  for (const f of ['var/log/dpkg.log', 'var/log/bootstrap.log', 'var/log/alternatives.log', 'var/log/apt/history.log', 'var/log/apt/term.log',
    'var/log/apt/eipp.log.xz', 'var/cache/ldconfig/aux-cache', 'run/mount/utab']) {
    rmSync(join(root, f), { force: true });
  }
  if (existsSync(join(root, 'run/mount')) && readdirSync(join(root, 'run/mount')).length === 0) rmSync(join(root, 'run/mount'), { recursive: true });
  const machineId = join(root, 'etc/machine-id');
  if (existsSync(machineId) && statSync(machineId).size > 0) writeFileSync(machineId, '');
  // Password dates ("last changed", in days) are today's: clamp them.
  const day = Math.floor(epoch / 86400);
  for (const f of ['etc/shadow', 'etc/shadow-']) {
    const p = join(root, f);
    if (!existsSync(p)) continue;
    const lines = readFileSync(p, 'utf8').split('\n').map((l) => {
      const cols = l.split(':');
      if (cols.length > 2 && cols[2] !== '' && Number(cols[2]) > day) cols[2] = String(day);
      return cols.join(':');
    });
    writeFileSync(p, lines.join('\n')); // keeps owner and mode
  }
  chownSync(root, 0, 0);
  chmodSync(root, 0o755);
}

/** Unmounts whatever a chroot or debootstrap left mounted below root, deepest first. */
export function unmountUnder(root: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '')
    .map((m) => m.replace(/\\040/g, ' ')).filter((m) => m.startsWith(`${root}/`)).sort().reverse();
  for (const m of mounts) if (!trySh('umount', [m]).ok) trySh('umount', ['-l', m]);
}

/** minbase debootstrap into the empty directory root; the download is cached as a tarball. */
export function debootstrap(cache: string, arch: string, root: string, epoch: number, work: string): void {
  const tarball = join(cache, 'debootstrap', `bookworm-minbase-${arch}.tar`);
  mkdirSync(join(cache, 'debootstrap'), { recursive: true });
  if (!existsSync(tarball)) {
    note(`debootstrap --make-tarball (bookworm minbase ${arch}) into the cache`);
    sh('debootstrap', ['--variant=minbase', `--arch=${arch}`, `--make-tarball=${tarball}.tmp`, 'bookworm', join(work, 'debootstrap-dl'), MIRROR]);
    renameSync(`${tarball}.tmp`, tarball);
  }
  note('debootstrap --variant=minbase bookworm (from the cached tarball)');
  try {
    sh('debootstrap', ['--variant=minbase', `--arch=${arch}`, `--unpack-tarball=${tarball}`, 'bookworm', root, MIRROR]);
  } finally {
    unmountUnder(root);
  }
  for (const f of ['etc/resolv.conf', 'etc/hostname']) rmSync(join(root, f), { force: true });
  const archives = join(root, 'var/cache/apt/archives');
  for (const f of readdirSync(archives)) if (f.endsWith('.deb')) rmSync(join(archives, f));
  rmSync(join(root, 'debootstrap'), { recursive: true, force: true });
  normaliseRootfs(root, epoch);
}

/**
 * Runs a shell script in a chroot of root, as a Dockerfile RUN would: /proc
 * mounted, the host's resolver, no service starts, and apt's downloads kept
 * in the cache. Normalises the tree afterwards.
 */
export function chrootRun(root: string, script: string, cache: string, arch: string, epoch: number): void {
  note(`chroot: ${script.split('\n')[0]}`);
  const archives = join(cache, 'chroot-apt', arch, 'archives');
  mkdirSync(join(archives, 'partial'), { recursive: true });
  mkdirSync(join(root, 'proc'), { recursive: true });
  const resolv = join(root, 'etc/resolv.conf');
  const policy = join(root, 'usr/sbin/policy-rc.d');
  const hadPolicy = existsSync(policy);
  try {
    sh('mount', ['-t', 'proc', 'proc', join(root, 'proc')]);
    if (existsSync(join(root, 'var/cache/apt/archives'))) sh('mount', ['--bind', archives, join(root, 'var/cache/apt/archives')]);
    rmSync(resolv, { force: true });
    copyFileSync('/etc/resolv.conf', resolv);
    if (!hadPolicy) {
      writeFileSync(policy, '#!/bin/sh\nexit 101\n');
      chmodSync(policy, 0o755);
    }
    sh('chroot', [root, '/usr/bin/env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8',
      'DEBIAN_FRONTEND=noninteractive', 'DEBCONF_NONINTERACTIVE_SEEN=true', `SOURCE_DATE_EPOCH=${epoch}`, 'PYTHONHASHSEED=0', '/bin/sh', '-ec', script]);
  } finally {
    unmountUnder(root);
    if (!hadPolicy) rmSync(policy, { force: true });
    rmSync(resolv, { force: true });
  }
  normaliseRootfs(root, epoch);
}

/**
 * `apt-get update` in the chroot, once per cache: later builds replay the
 * saved lists, so they install the same versions.
 */
export function chrootAptUpdate(root: string, cache: string, arch: string, epoch: number): void {
  const sources = readFileSync(join(root, 'etc/apt/sources.list'), 'utf8');
  const saved = join(cache, 'chroot-apt', arch, `lists-${createHash('sha256').update(sources).digest('hex').slice(0, 16)}`);
  const lists = join(root, 'var/lib/apt/lists');
  if (!existsSync(saved)) {
    chrootRun(root, 'apt-get update', cache, arch, epoch);
    rmSync(`${saved}.tmp`, { recursive: true, force: true });
    sh('cp', ['-a', lists, `${saved}.tmp`]);
    renameSync(`${saved}.tmp`, saved);
  } else {
    note('apt-get update: replaying the cached lists');
    rmSync(lists, { recursive: true, force: true });
    sh('cp', ['-a', saved, lists]);
  }
}
