// What distroless adds to the packages of its static images: user and group
// files, the standard directories, and the CA store that
// update-ca-certificates would make (it is a maintainer script, and
// dpkg-deb -x runs none).
import { readFileSync, appendFileSync, chmodSync, chownSync, copyFileSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, writeFileSync, lstatSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { sh } from './commands.js';

export function distrolessEtc(root: string): void {
  mkdirSync(join(root, 'etc'), { recursive: true });
  const files: Array<[string, string]> = [
    ['etc/passwd', 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n'],
    ['etc/group', 'root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n'],
    ['etc/nsswitch.conf', 'passwd:         files\ngroup:          files\nshadow:         files\ngshadow:        files\n\nhosts:          files dns\nnetworks:       files\n\nprotocols:      db files\nservices:       db files\nethers:         db files\nrpc:            db files\n'],
  ];
  for (const [path, text] of files) {
    writeFileSync(join(root, path), text);
    chmodSync(join(root, path), 0o644);
  }
  const dirs: Array<[string, number, number]> = [['tmp', 0o1777, 0], ['root', 0o700, 0], ['home', 0o755, 0], ['home/nonroot', 0o700, 65532]];
  for (const [path, mode, owner] of dirs) {
    mkdirSync(join(root, path), { recursive: true });
    chmodSync(join(root, path), mode); // mkdir's mode is masked by the umask
    chownSync(join(root, path), owner, owner);
  }
}

function certificates(dir: string, under = dir): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...certificates(p, under));
    else if (e.isFile() && e.name.endsWith('.crt')) out.push(relative(under, p));
  }
  return out;
}

/** update-ca-certificates' result: the bundle, a .pem link per certificate, OpenSSL's hash links. */
export function caCertificates(root: string, scratch: string): void {
  const store = join(root, 'usr/share/ca-certificates');
  const certs = join(root, 'etc/ssl/certs');
  mkdirSync(certs, { recursive: true });
  const list = certificates(store).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  writeFileSync(join(root, 'etc/ca-certificates.conf'), `# The certificates of ${store.slice(root.length)} that are trusted (fixture builder)\n${list.join('\n')}\n`);
  const bundle = join(certs, 'ca-certificates.crt');
  writeFileSync(bundle, '');
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  for (const rel of list) {
    const pem = readFileSync(join(store, rel), 'latin1');
    appendFileSync(bundle, pem.endsWith('\n') ? pem : `${pem}\n`, 'latin1');
    const name = rel.split('/').pop()!.replace(/\.crt$/, '');
    rmSync(join(certs, `${name}.pem`), { force: true });
    symlinkSync(`/usr/share/ca-certificates/${rel}`, join(certs, `${name}.pem`));
    copyFileSync(join(store, rel), join(scratch, `${name}.pem`));
  }
  sh('openssl', ['rehash', scratch]);
  for (const f of readdirSync(scratch).sort()) {
    if (!lstatSync(join(scratch, f)).isSymbolicLink()) continue;
    rmSync(join(certs, f), { force: true });
    symlinkSync(readlinkSync(join(scratch, f)), join(certs, f));
  }
  chmodSync(join(root, 'etc/ca-certificates.conf'), 0o644);
  chmodSync(bundle, 0o644);
  rmSync(scratch, { recursive: true, force: true });
}
