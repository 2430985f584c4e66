// What the guest is asked to run, and its encoding: a shell file,
// /smr/request, that the initramfs /init sources. It travels as a second
// cpio archive appended to the cached initramfs (the kernel unpacks
// concatenated archives in turn), so the command line has no length or
// quoting limit and the cached initramfs stays the same for every boot.
//
// The fields are what `docker run` applies to a container (issue 10, `smr
// run`, maps an image's config onto them).
import { randomBytes } from 'node:crypto';
import { SmrError } from '../util/errors.js';
import { writeCpio } from './cpio.js';

export interface GuestRequest {
  /** The command and its arguments (argv[0] looked up in PATH inside the image). */
  argv: string[];
  /** The complete environment as "K=V" (image Env plus -e). PATH and HOME get docker's defaults when absent. */
  env?: string[];
  /** Absolute working directory in the image (default "/"). */
  workingDir?: string;
  /** docker's --user: NAME|UID[:GROUP|GID], resolved in the image's /etc/passwd and /etc/group (default root). */
  user?: string;
  /** Guest hostname, also in /etc/hostname and /etc/hosts when the image has them (default "localhost"). */
  hostname?: string;
  /** Mount the root read-write (the disk must be writable); default read-only. */
  writable?: boolean;
  /** Kill the command after this many seconds (0 or absent: never). */
  timeoutSeconds?: number;
  /** The command's stdin: nothing (default, like docker run without -i) or the console. */
  stdin?: 'null' | 'console';
}

export interface EncodedRequest {
  /** The per-boot nonce in every marker line: the command cannot forge them. */
  nonce: string;
  cpio: Buffer;
}

/** A word for a POSIX shell, single-quoted. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function check(req: GuestRequest): void {
  if (req.argv.length === 0 || req.argv[0] === '') throw new SmrError('USAGE', 'no command to run in the guest');
  const all = [...req.argv, ...(req.env ?? []), req.workingDir ?? '', req.user ?? '', req.hostname ?? ''];
  if (all.some((s) => s.includes('\0'))) throw new SmrError('USAGE', 'arguments, environment, user and working directory cannot contain NUL bytes');
  for (const e of req.env ?? []) if (e.indexOf('=') <= 0) throw new SmrError('USAGE', `environment entry '${e}' is not K=V`);
  if (req.workingDir !== undefined && !req.workingDir.startsWith('/')) throw new SmrError('USAGE', `working directory '${req.workingDir}' is not absolute`);
  if (req.hostname !== undefined && !/^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/.test(req.hostname)) throw new SmrError('USAGE', `hostname '${req.hostname}' is not a valid host name`);
  const t = req.timeoutSeconds ?? 0;
  if (!Number.isInteger(t) || t < 0) throw new SmrError('USAGE', `timeout ${t} is not a whole number of seconds`);
}

export interface BootSettings {
  mode: 'run' | 'probe';
  /** virtio transport: mmio (microvm) or pci (q35). */
  bus: 'mmio' | 'pci';
  verbose: boolean;
}

export function encodeRequest(req: GuestRequest, boot: BootSettings): EncodedRequest {
  check(req);
  const nonce = randomBytes(8).toString('hex');
  const vars: Array<[string, string]> = [
    ['SMR_NONCE', nonce],
    ['SMR_MODE', boot.mode],
    ['SMR_BUS', boot.bus],
    ['SMR_VERBOSE', boot.verbose ? '1' : '0'],
    ['SMR_CWD', req.workingDir ?? '/'],
    ['SMR_USER', req.user ?? ''],
    ['SMR_HOSTNAME', req.hostname ?? 'localhost'],
    ['SMR_WRITABLE', req.writable ? '1' : '0'],
    ['SMR_TIMEOUT', String(req.timeoutSeconds ?? 0)],
    ['SMR_STDIN', req.stdin ?? 'null'],
  ];
  // "$@" are init's defaults (PATH, HOSTNAME, HOME), placed first so that
  // the request's own entries override them (env applies them in order).
  const run = [
    '/bin/busybox env -i "$@"',
    ...(req.env ?? []).map(shellQuote),
    '/bin/busybox nsenter -F "-r$R" "-w$R$SMR_CWD" -S "$uid" -G "$gid" --',
    ...req.argv.map(shellQuote),
  ].join(' ');
  let body = `exec ${run}`;
  let setup = '';
  if (req.stdin === 'console') {
    // As docker run -i (without -t), stdin is a pipe, not the console: a
    // program that asks isatty() must not turn interactive. A feeder copies
    // the console into a FIFO until its end of file (^D); the console's
    // echo goes off now (init sources this early), or the input would come
    // back as output.
    setup = '/bin/busybox stty -echo 2>/dev/null\n';
    body = [
      '/bin/busybox mkfifo /run/smr/stdin',
      '/bin/busybox cat </dev/console >/run/smr/stdin &',
      'smr_feeder=$!',
      `${run} </run/smr/stdin`,
      'smr_rc=$?',
      'kill $smr_feeder 2>/dev/null',
      'return $smr_rc',
    ].join('\n    ');
  }
  const text = `${vars.map(([k, v]) => `${k}=${shellQuote(v)}`).join('\n')}\n${setup}smr_exec() {\n    ${body}\n}\n`;
  const cpio = writeCpio(
    [
      { type: 'dir', name: 'smr' },
      { type: 'file', name: 'smr/request', data: Buffer.from(text, 'utf8') },
    ],
    { firstIno: 0x7000_0000 },
  );
  return { nonce, cpio };
}
