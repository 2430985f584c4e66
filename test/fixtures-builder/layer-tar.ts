// Writes one layer: its actions as a pax tar (numeric owners, clamped
// mtimes), compressed with `gzip -n` (no name, no time: same bytes every
// run), straight into the blob store. Counts what it wrote for fixtures.json.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readlinkSync } from 'node:fs';
import { header, padded, paxBody, BLOCK } from '../helpers/tar-build.js';
import type { LayerAction } from './layer-diff.js';
import { devNumbers, mtimeSeconds, permissions, toFs, type BytePath } from './tree.js';
import { putBlobFile, type BlobStore } from './oci-blobs.js';

export type NameStyle = 'dot' | 'plain';

export interface LayerStats {
  entries: number; dirs: number; files: number; symlinks: number; hardlinks: number; chardevs: number; blockdevs: number;
  fifos: number; whiteouts: number; opaque_dirs: number; xattr_entries: number; setuid_setgid: number;
  non_root_owned: number; long_names: number; file_bytes: number;
}

export interface LayerRecord {
  digest: string;
  size: number;
  diff_id: string;
  uncompressed_size: number;
  stats: LayerStats;
  /** Every special entry, as a tar reader names it. */
  samples: { whiteouts: string[]; opaque_dirs: string[]; hardlinks: string[]; xattrs: string[]; devices: string[]; fifos: string[] };
}

/** ustar's numeric fields hold 7 (8 for size/mtime: 11) octal digits. */
const USTAR_ID_MAX = 0o7777777;
const USTAR_SIZE_MAX = 0o77777777777;

function tarName(rel: BytePath, isDir: boolean, style: NameStyle): BytePath {
  let s = style === 'dot' ? (rel === '' ? '.' : `./${rel}`) : rel;
  if (isDir && !s.endsWith('/')) s += '/';
  return s;
}

const isAscii = (s: string) => /^[\x20-\x7e]*$/.test(s);

interface Fields {
  name: BytePath; typeflag: string; mode: number; uid: number; gid: number; size: number; mtime: number;
  linkname?: BytePath; devmajor?: number; devminor?: number; xattrs?: Array<[string, Buffer]>;
}

/** A header, preceded by a pax header when a field does not fit ustar. */
function headers(f: Fields): Buffer {
  const records: Array<[string, string | Buffer]> = [];
  const link = f.linkname ?? '';
  if (f.name.length > 100 || !isAscii(f.name)) records.push(['path', Buffer.from(f.name, 'latin1')]);
  if (link.length > 100 || !isAscii(link)) records.push(['linkpath', Buffer.from(link, 'latin1')]);
  if (f.uid > USTAR_ID_MAX) records.push(['uid', String(f.uid)]);
  if (f.gid > USTAR_ID_MAX) records.push(['gid', String(f.gid)]);
  if (f.size > USTAR_SIZE_MAX) records.push(['size', String(f.size)]);
  for (const [k, v] of f.xattrs ?? []) records.push([`SCHILY.xattr.${k}`, v]);
  const main = header({
    name: f.name.slice(0, 100), typeflag: f.typeflag, mode: f.mode, mtime: f.mtime,
    uid: f.uid > USTAR_ID_MAX ? 0 : f.uid, gid: f.gid > USTAR_ID_MAX ? 0 : f.gid, size: f.size > USTAR_SIZE_MAX ? 0 : f.size,
    linkname: link.slice(0, 100), devmajor: f.devmajor ?? 0, devminor: f.devminor ?? 0, uname: '', gname: '',
  });
  if (records.length === 0) return main;
  const body = paxBody(records);
  const paxName = `PaxHeaders/${f.name.replace(/\/$/, '').split('/').pop()}`.slice(0, 100);
  return Buffer.concat([header({ name: paxName, typeflag: 'x', size: body.length, mode: 0o644, mtime: f.mtime, uname: '', gname: '' }), padded(body), main]);
}

export async function writeLayer(actions: LayerAction[], style: NameStyle, epoch: number, store: BlobStore): Promise<LayerRecord> {
  const stats: LayerStats = {
    entries: 0, dirs: 0, files: 0, symlinks: 0, hardlinks: 0, chardevs: 0, blockdevs: 0, fifos: 0, whiteouts: 0,
    opaque_dirs: 0, xattr_entries: 0, setuid_setgid: 0, non_root_owned: 0, long_names: 0, file_bytes: 0,
  };
  const samples: LayerRecord['samples'] = { whiteouts: [], opaque_dirs: [], hardlinks: [], xattrs: [], devices: [], fifos: [] };
  const tmp = `${store.dir}/.tmp-layer-${process.pid}`;
  const fd = openSync(tmp, 'w');
  const gzip = spawn('gzip', ['-n', '-6', '-c'], { stdio: ['pipe', fd, 'inherit'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  closeSync(fd);
  const done = new Promise<number | null>((resolve, reject) => {
    gzip.on('error', reject);
    gzip.on('close', resolve);
  });
  const diff = createHash('sha256');
  let tarBytes = 0;
  const write = async (b: Buffer) => {
    diff.update(b);
    tarBytes += b.length;
    if (!gzip.stdin!.write(b)) await new Promise((r) => gzip.stdin!.once('drain', r));
  };

  const firstNameOfInode = new Map<bigint, BytePath>();
  for (const a of actions) {
    if (a.k !== 'entry') {
      const name = tarName(a.rel, false, style);
      await write(headers({ name, typeflag: '0', mode: 0, uid: 0, gid: 0, size: 0, mtime: epoch }));
      stats.entries++;
      if (a.k === 'whiteout') { stats.whiteouts++; samples.whiteouts.push(name); }
      else { stats.opaque_dirs++; samples.opaque_dirs.push(name); }
      continue;
    }
    if (style === 'plain' && a.rel === '') continue; // plain layers have no root entry
    const name = tarName(a.rel, a.kind === 'd', style);
    const f: Fields = { name, typeflag: '0', mode: permissions(a.st), uid: Number(a.st.uid), gid: Number(a.st.gid), size: 0, mtime: Math.min(mtimeSeconds(a.st), epoch), xattrs: a.xattrs };
    let data: Buffer | undefined;
    const sampleName = name.replace(/\/$/, '');
    switch (a.kind) {
      case 'f': {
        const first = a.st.nlink > 1n ? firstNameOfInode.get(a.st.ino) : undefined;
        if (first !== undefined) {
          Object.assign(f, { typeflag: '1', linkname: first, xattrs: [] });
          stats.hardlinks++;
          samples.hardlinks.push(`${sampleName} => ${first}`);
        } else {
          if (a.st.nlink > 1n) firstNameOfInode.set(a.st.ino, name);
          data = readFileSync(toFs(a.abs));
          f.size = data.length;
          stats.files++;
          stats.file_bytes += data.length;
        }
        break;
      }
      case 'd': f.typeflag = '5'; stats.dirs++; break;
      case 'l': Object.assign(f, { typeflag: '2', linkname: readlinkSync(toFs(a.abs), 'latin1') }); stats.symlinks++; break;
      case 'c': case 'b': {
        const [devmajor, devminor] = devNumbers(a.st.rdev);
        Object.assign(f, { typeflag: a.kind === 'c' ? '3' : '4', devmajor, devminor });
        if (a.kind === 'c') stats.chardevs++; else stats.blockdevs++;
        samples.devices.push(`${sampleName} ${a.kind} ${devmajor},${devminor}`);
        break;
      }
      case 'p': f.typeflag = '6'; stats.fifos++; samples.fifos.push(sampleName); break;
      default: throw new Error(`cannot put a socket in a layer: /${a.rel}`);
    }
    const xattrs = f.xattrs ?? [];
    if (xattrs.length > 0) {
      stats.xattr_entries++;
      samples.xattrs.push(`${sampleName} ${xattrs.map(([k, v]) => `${k}=0x${v.toString('hex')}`).join(',')}`);
    }
    if (f.typeflag === '0' && f.mode & 0o6000) stats.setuid_setgid++;
    if (f.uid !== 0 || f.gid !== 0) stats.non_root_owned++;
    if (name.length > 100 || (f.linkname ?? '').length > 100) stats.long_names++;
    stats.entries++;
    await write(headers(f));
    if (data !== undefined && data.length > 0) await write(padded(data));
  }
  await write(Buffer.alloc(2 * BLOCK));
  gzip.stdin!.end();
  const code = await done;
  if (code !== 0) throw new Error(`gzip exited with ${code}`);
  const blob = await putBlobFile(store, tmp);
  return { ...blob, diff_id: `sha256:${diff.digest('hex')}`, uncompressed_size: tarBytes, stats, samples };
}
