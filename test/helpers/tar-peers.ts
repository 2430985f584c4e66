// Real tar writers as peers: a file tree made with the usual tools, listed by
// Python (lstat, readlink, xattrs), archived by GNU tar or bsdtar; and
// archives written by Python's tarfile together with what it put in.

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export function run(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}): Buffer {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? tmpdir(), input: opts.input, maxBuffer: 1 << 28 });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr?.toString()}`);
  }
  return r.stdout;
}

/** What Python sees of one path; strings are latin1 byte strings. */
export interface FsEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: string;
  size: number;
  sha256: string;
  linkname: string;
  devmajor: number;
  devminor: number;
  ino: number;
  xattrs: Record<string, string>;
}

const DUMP_TREE = String.raw`
import hashlib, json, os, stat, sys
root = os.fsencode(sys.argv[1])
top = sys.argv[2:]
out = []
def visit(rel):
    p = os.path.join(root, rel)
    st = os.lstat(p)
    m = st.st_mode
    kind = ('dir' if stat.S_ISDIR(m) else 'file' if stat.S_ISREG(m) else 'symlink' if stat.S_ISLNK(m)
            else 'char' if stat.S_ISCHR(m) else 'block' if stat.S_ISBLK(m) else 'fifo' if stat.S_ISFIFO(m) else '?')
    e = dict(path=rel.decode('latin1'), type=kind, mode=stat.S_IMODE(m), uid=st.st_uid, gid=st.st_gid,
             mtimeNs=str(st.st_mtime_ns), size=0, sha256=hashlib.sha256(b'').hexdigest(), linkname='',
             devmajor=0, devminor=0, ino=st.st_ino, xattrs={})
    if kind == 'file':
        data = open(p, 'rb').read()
        e['size'] = len(data); e['sha256'] = hashlib.sha256(data).hexdigest()
    if kind == 'symlink':
        e['linkname'] = os.readlink(p).decode('latin1')
    if kind in ('char', 'block'):
        e['devmajor'] = os.major(st.st_rdev); e['devminor'] = os.minor(st.st_rdev)
    if kind != 'symlink':
        for name in os.listxattr(p, follow_symlinks=False):
            e['xattrs'][name] = os.getxattr(p, name, follow_symlinks=False).hex()
    out.append(e)
    if kind == 'dir':
        for c in sorted(os.listdir(p)):
            visit(os.path.join(rel, c))
for t in top:
    visit(os.fsencode(t))
json.dump(out, sys.stdout)
`;

export function dumpTree(root: string, top: string[]): FsEntry[] {
  return JSON.parse(run('python3', ['-c', DUMP_TREE, root, ...top]).toString()) as FsEntry[];
}

const sh = (script: string, cwd: string) => run('sh', ['-euc', script], { cwd });

/**
 * Builds the test trees under root:
 *  - basic/: what even v7 can store (short names, files, dirs, links);
 *  - special/: devices, a fifo, a name that needs the ustar prefix;
 *  - ext/: names > 100 and > 255 bytes, a long link target, a uid past 2^31,
 *    a negative mtime, a non-UTF-8 name, xattrs incl. security.capability.
 */
export function makeTrees(root: string): void {
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'rand.bin'), Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 2654435761) >>> 24)));
  sh(
    `
    mkdir -p basic/sub basic/sticky
    printf 'hello\\n' > basic/file
    : > basic/empty
    mv rand.bin basic/rand
    head -c 512 basic/rand > basic/exact512
    head -c 513 basic/rand > basic/over512
    printf x > basic/suid; chmod 4755 basic/suid
    printf y > basic/sgid; chmod 2710 basic/sgid
    chmod 1777 basic/sticky
    printf z > basic/owned; chown 1000:1001 basic/owned
    ln -s file basic/sym
    ln -s /etc/passwd basic/abs
    ln basic/file basic/hard
    printf 'in sub' > 'basic/sub/with space'
    touch -h -d '2020-01-02 03:04:05.123456789' basic/file basic/sym
    touch -d '2001-09-09 01:46:40.5' basic/sub

    mkdir -p special/${'a'.repeat(60)}
    printf deep > special/${'a'.repeat(60)}/${'b'.repeat(80)}
    mkfifo special/fifo
    mknod special/null c 1 3
    mknod special/loop7 b 7 7
    mknod special/bigdev c 300 70000

    long_dir=ext/${'d'.repeat(120)}
    mkdir -p "$long_dir"
    printf 'long' > "$long_dir/${'f'.repeat(200)}"
    ln -s ${'t'.repeat(150)} ext/longlink
    printf u > ext/biguid; chown 4000000000:4000000001 ext/biguid
    printf o > ext/old; touch -d '1960-01-01 00:00:00' ext/old
    printf raw > "$(printf 'ext/caf\\377\\376')"
    printf 'ü' > 'ext/ünïcödé'
    printf x > ext/xattrs
    setfattr -n user.text -v hello ext/xattrs
    setfattr -n user.binary -v 0x000a3dff0a ext/xattrs
    setfattr -n user.empty ext/xattrs
    setcap cap_net_raw+ep ext/xattrs
    `,
    root,
  );
}

/** Python's tarfile writes archives from explicit members and prints what it put in. */
const PY_WRITER = String.raw`
import decimal, hashlib, io, json, sys, tarfile
fmt = {'gnu': tarfile.GNU_FORMAT, 'pax': tarfile.PAX_FORMAT, 'ustar': tarfile.USTAR_FORMAT}[sys.argv[1]]
out_path = sys.argv[2]
buf = io.BytesIO()
tf = tarfile.open(fileobj=buf, mode='w', format=fmt, encoding='utf-8', errors='surrogateescape')
expect = []
def name_bytes(s):
    return s.encode('utf-8', 'surrogateescape').decode('latin1')
def add(name, type=tarfile.REGTYPE, data=b'', mode=0o644, uid=0, gid=0, mtime=1700000000, linkname='',
        devmajor=0, devminor=0, pax=None):
    ti = tarfile.TarInfo(name)
    ti.type = type; ti.mode = mode; ti.uid = uid; ti.gid = gid; ti.mtime = mtime
    ti.linkname = linkname; ti.devmajor = devmajor; ti.devminor = devminor
    ti.size = len(data) if type == tarfile.REGTYPE else 0
    if pax: ti.pax_headers = pax
    tf.addfile(ti, io.BytesIO(data) if type == tarfile.REGTYPE else None)
    # What a reader must report: pax times are decimal strings, cut to ns and floored.
    t = decimal.Decimal(str(mtime)) if fmt == tarfile.PAX_FORMAT and isinstance(mtime, float) else decimal.Decimal(int(mtime))
    ns = int((t * 10**9).to_integral_value(rounding=decimal.ROUND_FLOOR))
    xattrs = {k[len('SCHILY.xattr.'):]: v.encode('utf-8', 'surrogateescape').hex()
              for k, v in (pax or {}).items() if k.startswith('SCHILY.xattr.')}
    kind = {tarfile.REGTYPE: 'file', tarfile.DIRTYPE: 'dir', tarfile.SYMTYPE: 'symlink', tarfile.LNKTYPE: 'hardlink',
            tarfile.CHRTYPE: 'char', tarfile.BLKTYPE: 'block', tarfile.FIFOTYPE: 'fifo'}[type]
    expect.append(dict(path=name_bytes(name), type=kind, mode=mode, uid=uid, gid=gid, size=ti.size,
        sha256=hashlib.sha256(data).hexdigest(), mtime=dict(sec=ns // 10**9, nsec=ns % 10**9),
        linkname=name_bytes(linkname) if kind in ('symlink', 'hardlink') else '',
        devmajor=devmajor if kind in ('char', 'block') else 0, devminor=devminor if kind in ('char', 'block') else 0,
        xattrs=xattrs))
long = 'x' * 90 + '/' + 'y' * 90 + '/' + 'z' * 120
add('dir/', tarfile.DIRTYPE, mode=0o755)
add('dir/file', data=b'hello world\n', mode=0o4755, uid=1000, gid=1000, mtime=1577934245)
add('dir/' + 'p' * 100 + '/' + 'q' * 50, data=b'prefix')
add('dir/link', tarfile.SYMTYPE, linkname='file')
add('dir/hard', tarfile.LNKTYPE, linkname='dir/file')
add('dev/null', tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
add('dev/sda', tarfile.BLKTYPE, devmajor=8, devminor=0)
add('fifo', tarfile.FIFOTYPE)
add('big', data=bytes(range(256)) * 40)
if fmt != tarfile.USTAR_FORMAT:
    add(long, data=b'long name')
    add('longlink', tarfile.SYMTYPE, linkname='t' * 300)
    add('uid', data=b'u', uid=4294967294, gid=2**33)
    add('negative', data=b'n', mtime=-1000000000)
if fmt == tarfile.GNU_FORMAT:
    add('bigdev', tarfile.CHRTYPE, devmajor=300, devminor=3000000)
if fmt == tarfile.PAX_FORMAT:
    add('caf\udce9-\udcff\udcfe', data=b'not utf-8')
    add('unicode-\u00fc\u2713', data=b'utf-8')
    add('fraction', data=b'f', mtime=1577934245.123456)
    add('negative-fraction', data=b'f', mtime=-1.5)
    add('xattrs', data=b'x', pax={'SCHILY.xattr.user.bin': '\x00\n=\udcff\n',
        'SCHILY.xattr.security.capability': '\x01\x00\x00\x02\x00 ' + '\x00' * 14, 'SCHILY.xattr.user.empty': ''})
tf.close()
open(out_path, 'wb').write(buf.getvalue())
json.dump(expect, sys.stdout)
`;

export interface PyExpected {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  sha256: string;
  mtime: { sec: number; nsec: number };
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, string>;
}

/** Writes an archive with Python's tarfile in `format`; returns what it holds. */
export function pythonArchive(format: 'gnu' | 'pax' | 'ustar', outPath: string): PyExpected[] {
  return JSON.parse(run('python3', ['-c', PY_WRITER, format, outPath]).toString()) as PyExpected[];
}
