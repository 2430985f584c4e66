// The options of `smr serve` that decide who may connect and what they may
// use: TLS (X.509 or PSK), per-export access, connection limits and the
// handshake deadline. Parsed here into what the NBD server takes.
import { readFile } from 'node:fs/promises';
import { parseAllow, parsePsk, type AccessRules, type NbdServerOptions, type TlsOptions } from '../nbd/index.js';
import { describeReadError } from '../util/fs-errors.js';
import { readPrivateFile } from '../util/private-file.js';
import { UsageError, type Options } from './args.js';

export const securityOptions = {
  spec: {
    tls: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-ca': { type: 'string' },
    'tls-verify-peer': { type: 'boolean' },
    'tls-psk': { type: 'string' },
    allow: { type: 'string', multiple: true },
    'max-connections': { type: 'string' },
    'max-connections-per-client': { type: 'string' },
    'handshake-timeout': { type: 'string' },
  } satisfies Options,
  help: `      --tls off|on|require  NBD STARTTLS: not offered (default), offered,
                           or required before any other option
      --tls-cert FILE      server certificate chain (PEM), with --tls-key FILE
      --tls-ca FILE        CA that client certificates must chain to
      --tls-verify-peer    require a valid client certificate (needs --tls-ca)
      --tls-psk FILE       pre-shared keys, "identity:hexkey" lines (as psktool writes)
      --allow EXPORT=ID[,ID...]  only these clients (PSK identity or certificate
                           CN) see and open EXPORT (repeatable)
      --max-connections N  open connections at most (default unlimited)
      --max-connections-per-client N  the same per client address
      --handshake-timeout SECONDS  drop clients that have not finished the
                           handshake by then (default 10)`,
};

export type SecuritySettings = Pick<NbdServerOptions, 'tls' | 'access' | 'maxConnections' | 'maxConnectionsPerAddress'> & {
  handshakeTimeoutMs?: number;
};

export async function securitySettings(values: Record<string, unknown>, exportNames: readonly string[]): Promise<SecuritySettings> {
  const mode = (values.tls as string | undefined) ?? 'off';
  if (mode !== 'off' && mode !== 'on' && mode !== 'require') throw new UsageError(`--tls: '${mode}' is not one of off, on, require`);
  const certFile = values['tls-cert'] as string | undefined;
  const keyFile = values['tls-key'] as string | undefined;
  const caFile = values['tls-ca'] as string | undefined;
  const pskFile = values['tls-psk'] as string | undefined;
  const given = ['tls-cert', 'tls-key', 'tls-ca', 'tls-verify-peer', 'tls-psk'].filter((o) => values[o] !== undefined);
  let tls: SecuritySettings['tls'];
  if (mode === 'off') {
    if (given.length > 0) throw new UsageError(`--${given[0]} needs --tls on or --tls require`);
  } else {
    if (Boolean(certFile) !== Boolean(keyFile)) throw new UsageError('--tls-cert and --tls-key go together');
    if (!certFile && !pskFile) throw new UsageError(`--tls ${mode} needs --tls-cert FILE --tls-key FILE, or --tls-psk FILE`);
    if (pskFile && (certFile || caFile)) throw new UsageError('--tls-psk cannot be combined with certificates (--tls-cert, --tls-ca): clients use one or the other');
    if (values['tls-verify-peer'] && !caFile) throw new UsageError('--tls-verify-peer needs --tls-ca FILE');
    const pskText = pskFile ? (await readPrivateFile(pskFile, 'PSK file')).toString('utf8') : undefined;
    const options: TlsOptions = {
      mode,
      cert: certFile ? await readPublic(certFile, '--tls-cert') : undefined,
      key: keyFile ? await readPrivateFile(keyFile, 'TLS key') : undefined,
      ca: caFile ? await readPublic(caFile, '--tls-ca') : undefined,
      verifyPeer: Boolean(values['tls-verify-peer']),
      psk: pskText !== undefined ? usage(() => parsePsk(pskText, pskFile!)) : undefined,
    };
    tls = options;
  }
  let access: AccessRules | undefined;
  const allow = values.allow as string[] | undefined;
  if (allow) {
    const rules = usage(() => parseAllow(allow));
    for (const name of rules.keys()) if (!exportNames.includes(name)) throw new UsageError(`--allow: no export named '${name}'`);
    access = rules;
  }
  return {
    tls,
    access,
    maxConnections: count(values['max-connections'], '--max-connections'),
    maxConnectionsPerAddress: count(values['max-connections-per-client'], '--max-connections-per-client'),
    handshakeTimeoutMs: seconds(values['handshake-timeout'], '--handshake-timeout'),
  };
}

/** Certificates are public: only their presence is checked. */
async function readPublic(path: string, option: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new UsageError(`${option} ${path}: ${describeReadError(e)}`);
  }
}

/** Parser errors (which never quote a key) become usage errors. */
function usage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function count(v: unknown, option: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${option}: expected a whole number of at least 1, not '${String(v)}'`);
  return n;
}

function seconds(v: unknown, option: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new UsageError(`${option}: expected seconds between 0 and 3600, not '${String(v)}'`);
  return Math.round(n * 1000);
}
