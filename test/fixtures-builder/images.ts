// The fixture images, as small as the tests allow, each a list of layers
// whose steps change a root filesystem on disk. The special entries the
// tests look for are in debian-python's last layer.
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from './commands.js';
import { aptRoot, chrootAptUpdate, chrootRun, debootstrap, extractDeb, fetchDebs, resolve, versions } from './debian.js';
import { caCertificates, distrolessEtc } from './distroless.js';
import type { NameStyle } from './layer-tar.js';

export interface BuildContext {
  cache: string;
  epoch: number;
  /** Scratch space for this image. */
  work: string;
  arch: string;
  /** name=version of the packages the image has so far (debs images). */
  packages: string[];
}

export interface LayerRecipe {
  /** The image history's created_by. */
  createdBy: string;
  /** Directories this layer re-creates: shipped whole behind an opaque marker. */
  opaque?: string[];
  build(root: string, ctx: BuildContext): void;
}

export interface ImageRecipe {
  name: string;
  arch: string;
  variant?: string;
  /** `./etc/passwd` with a `./` root entry (distroless), or `etc/passwd` (docker). */
  names: NameStyle;
  from?: string;
  config: Record<string, unknown>;
  layers: LayerRecipe[];
}

/** Installs the packages (with their dependencies when `deps`) by dpkg-deb -x. */
function debs(wanted: string[], deps: boolean) {
  return (root: string, ctx: BuildContext) => {
    const apt = aptRoot(ctx.cache, ctx.arch);
    // Essential packages distroless leaves out: their dependents work without them.
    const without = ['dpkg', 'debconf', 'perl-base', 'tar', 'mawk'];
    const have = [...ctx.packages.map((p) => p.split('=')[0]!), ...without];
    const pins = deps ? resolve(apt, wanted, have, ctx.work) : versions(apt, wanted);
    const files = fetchDebs(apt, ctx.cache, pins);
    for (const pin of pins) extractDeb(files.get(pin)!, pin.split('=')[0]!, root);
    ctx.packages = [...new Set([...ctx.packages, ...pins])].sort();
  };
}

const STATIC_CONFIG = {
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'],
  User: '0',
  WorkingDir: '/',
};

const staticLayer: LayerRecipe = {
  createdBy: 'debs base-files netbase tzdata ca-certificates; /etc/passwd, group, nsswitch.conf; /tmp, /root, /home/nonroot',
  build(root, ctx) {
    debs(['base-files', 'netbase', 'tzdata', 'ca-certificates'], false)(root, ctx);
    caCertificates(root, join(ctx.work, 'rehash'));
    distrolessEtc(root);
  },
};

const APT_CLEAN = 'rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin';

/** Every kind of entry a layer can hold that the packages do not provide. */
const SPECIAL_FILES = `
d=/srv/fixture
mkdir -p "$d/long-names-directory-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
printf 'long\\n' > "$d/long-names-directory-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/file-with-a-long-name.txt"
printf 'shared\\n' > "$d/hardlink-a"
ln "$d/hardlink-a" "$d/hardlink-b"
printf 'unicode\\n' > "$d/ünïcødé ☃.txt"
: > "$d/empty"
ln -s /etc/os-release "$d/abs-symlink"
ln -s does-not-exist "$d/dangling-symlink"
ln -s ../../usr/share/zoneinfo "$d/dir-symlink"
head -c 8388608 /dev/zero > "$d/zeros-8MiB"
mkfifo -m 0600 "$d/fifo"
mknod -m 0660 "$d/loop7" b 7 7
mkdir -m 0750 "$d/owned"
printf 'x\\n' > "$d/owned/file"
chown -R 1000:1000 "$d/owned"
`;

export const RECIPES: ImageRecipe[] = [
  { name: 'static', arch: 'amd64', names: 'dot', config: STATIC_CONFIG, layers: [staticLayer] },
  {
    name: 'base', arch: 'amd64', names: 'dot', from: 'static', config: STATIC_CONFIG,
    layers: [{ createdBy: 'debs libc6 libssl3 libgcc-s1 libgomp1 libstdc++6 (and dependencies)', build: debs(['libc6', 'libssl3', 'libgcc-s1', 'libgomp1', 'libstdc++6'], true) }],
  },
  {
    name: 'python3', arch: 'amd64', names: 'dot', from: 'base', config: { ...STATIC_CONFIG, Entrypoint: ['/usr/bin/python3.11'] },
    layers: [{
      createdBy: 'debs python3.11-minimal libpython3.11-minimal libpython3.11-stdlib (and dependencies); python3, python -> python3.11',
      build(root, ctx) {
        debs(['python3.11-minimal', 'libpython3.11-minimal', 'libpython3.11-stdlib'], true)(root, ctx);
        for (const link of ['usr/bin/python3', 'usr/bin/python']) symlinkSync('python3.11', join(root, link));
      },
    }],
  },
  {
    name: 'debian-slim', arch: 'amd64', names: 'plain', config: { Env: STATIC_CONFIG.Env.slice(0, 1), Cmd: ['bash'] },
    layers: [{ createdBy: 'debootstrap --variant=minbase bookworm', build: (root, ctx) => debootstrap(ctx.cache, ctx.arch, root, ctx.epoch, ctx.work) }],
  },
  {
    name: 'debian-python', arch: 'amd64', names: 'plain', from: 'debian-slim', config: { Env: STATIC_CONFIG.Env.slice(0, 1), Cmd: ['python3'] },
    layers: [
      {
        createdBy: `RUN apt-get update && apt-get install -y python3 && ${APT_CLEAN}`,
        build(root, ctx) {
          chrootAptUpdate(root, ctx.cache, ctx.arch, ctx.epoch);
          chrootRun(root, `apt-get install -y python3\n${APT_CLEAN}`, ctx.cache, ctx.arch, ctx.epoch);
        },
      },
      {
        createdBy: 'RUN rm -rf /usr/share/doc && mkdir /usr/share/doc && apt-get install -y libcap2-bin iputils-ping && (special files under /srv/fixture)',
        opaque: ['usr/share/doc'],
        build(root, ctx) {
          chrootRun(root, 'rm -rf /usr/share/doc\nmkdir -m 0755 /usr/share/doc', ctx.cache, ctx.arch, ctx.epoch);
          chrootAptUpdate(root, ctx.cache, ctx.arch, ctx.epoch);
          // libcap2-bin first: iputils-ping's postinst runs setcap.
          chrootRun(root, `apt-get install -y --no-install-recommends libcap2-bin\napt-get install -y --no-install-recommends iputils-ping\n${APT_CLEAN}\n${SPECIAL_FILES}`,
            ctx.cache, ctx.arch, ctx.epoch);
          sh('setfattr', ['-n', 'user.fixture', '-v', 'hello', join(root, 'srv/fixture/hardlink-a')]);
        },
      },
    ],
  },
  { name: 'static-arm64', arch: 'arm64', variant: 'v8', names: 'dot', config: STATIC_CONFIG, layers: [staticLayer] },
];

/** Multi-platform indexes: name -> the images they list. */
export const INDEXES: Record<string, string[]> = { 'static-multiarch': ['static', 'static-arm64'] };
