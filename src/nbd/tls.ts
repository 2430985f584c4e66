// The TLS side of NBD_OPT_STARTTLS: one secure context made at start, and per
// connection a server-side TLSSocket over the raw socket, whose handshake
// gives the client's identity (its PSK identity, or its certificate's subject
// CN when certificates are checked).
import type { Socket } from 'node:net';
import { createSecureContext, createServer, DEFAULT_CIPHERS, type SecureContextOptions, type TLSSocket } from 'node:tls';

export type TlsMode = 'off' | 'on' | 'require';

export interface TlsOptions {
  /** on: clients may start TLS; require: they must before any other option. */
  mode: 'on' | 'require';
  /** PEM certificate chain and key (X.509). */
  cert?: Buffer;
  key?: Buffer;
  /** PEM CA bundle that client certificates must chain to. */
  ca?: Buffer;
  /** Ask for a client certificate and refuse clients without a valid one. */
  verifyPeer?: boolean;
  /** PSK identity -> key. */
  psk?: ReadonlyMap<string, Buffer>;
}

/**
 * PSK suites are off in Node's defaults. GnuTLS clients (qemu, libnbd) offer
 * ECDHE-PSK and DHE-PSK in TLS 1.2 and psk_(dhe_)ke in TLS 1.3; OpenSSL
 * serves TLS 1.3 PSK from the same callback with the SHA-256 suites.
 */
const PSK_CIPHERS = 'ECDHE-PSK-AES128-CBC-SHA256:ECDHE-PSK-AES256-CBC-SHA384:ECDHE-PSK-CHACHA20-POLY1305:DHE-PSK-AES128-GCM-SHA256:DHE-PSK-AES256-GCM-SHA384:PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384';

const TLS13_AES_FIRST = 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256';

export class TlsUpgrade {
  readonly mode: 'on' | 'require';
  private readonly serverOptions: TlsOptionsForServer;

  /** Throws when the certificate, key or CA cannot be used. */
  constructor(private readonly opts: TlsOptions) {
    this.mode = opts.mode;
    if (!opts.psk && !(opts.cert && opts.key)) throw new Error('TLS needs a certificate and key, or a PSK file');
    // With both, OpenSSL picks certificate suites and GnuTLS PSK clients fail
    // ("insufficient credentials"); nbdkit too uses one or the other.
    if (opts.psk && (opts.cert || opts.ca)) throw new Error('TLS uses certificates or a PSK file, not both');
    if (opts.verifyPeer && !opts.ca) throw new Error('checking client certificates needs a CA');
    this.serverOptions = {
      cert: opts.cert,
      key: opts.key,
      ca: opts.ca,
      minVersion: 'TLSv1.2',
      ciphers: opts.psk ? `${TLS13_AES_FIRST}:${DEFAULT_CIPHERS.replace(':!PSK', '')}:${PSK_CIPHERS}` : DEFAULT_CIPHERS,
      // With PSK, TLS 1.3 can only use SHA-256 suites; GnuTLS clients then
      // prefer ChaCha20, at half the speed of AES-GCM on CPUs with AES-NI.
      honorCipherOrder: Boolean(opts.psk),
      requestCert: Boolean(opts.verifyPeer),
      rejectUnauthorized: Boolean(opts.verifyPeer),
    };
    // Made once here so that a bad certificate or key fails at start, not per client.
    createSecureContext(this.serverOptions);
  }

  /**
   * Runs the server side of a handshake on `raw`; resolves with the TLS
   * socket and the client's identity (undefined when it has none), rejects
   * with the reason the handshake failed.
   *
   * A tls.Server that never listens is handed the raw socket, one per
   * connection: it alone checks client certificates (authorized,
   * rejectUnauthorized) for sockets it did not create by itself.
   */
  start(raw: Socket): Promise<{ socket: TLSSocket; identity: string | undefined }> {
    let pskIdentity: string | undefined;
    const psk = this.opts.psk;
    const server = createServer({
      ...this.serverOptions,
      ...(psk && {
        pskCallback: (_socket: TLSSocket, identity: string) => {
          const key = psk.get(identity);
          if (key) pskIdentity = identity;
          return key ?? null;
        },
      }),
    });
    return new Promise((resolve, reject) => {
      server.once('secureConnection', (socket: TLSSocket) => resolve({ socket, identity: pskIdentity ?? certificateName(socket) }));
      server.once('tlsClientError', (e: Error) => reject(e));
      raw.once('close', () => reject(new Error('closed during the TLS handshake')));
      server.emit('connection', raw);
    });
  }
}

type TlsOptionsForServer = SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean; honorCipherOrder: boolean };

/** The subject CN of a verified client certificate. */
function certificateName(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN as string | string[] | undefined;
  return Array.isArray(cn) ? cn[0] : cn;
}
