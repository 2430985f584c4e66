// What a failed network call means: worth retrying, a TLS trust problem, or
// a short description for a message. Kept apart from http.ts so the code
// that only classifies errors (the remote stores' retry rules) does not load
// node:http and node:https.
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Network failures worth another attempt (the peer may come back). */
export function isTransientNetworkError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && TRANSIENT_CODES.has(code)) return true;
  return err instanceof Error && /socket hang up|aborted/i.test(err.message);
}

/** The peer speaks TLS but its certificate is not trusted (as opposed to not speaking TLS at all). */
export function isCertificateError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code);
}

/** Short human description of a network error, e.g. "connection refused". */
export function describeNetworkError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
      return 'host not found';
    case 'EAI_AGAIN':
      return 'name resolution failed (temporary)';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ETIMEDOUT':
      return e.message.startsWith('no data') ? e.message : 'timed out';
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return 'network unreachable';
    default:
      break;
  }
  if (isCertificateError(err)) return `TLS certificate not trusted: ${e.message}`;
  const openssl = /SSL routines:[^:]*:([^:]+)/.exec(e?.message ?? '');
  if (openssl) return `TLS error: ${openssl[1]}`; // the reason, not OpenSSL's file and line
  if (typeof e?.code === 'string' && (e.code.startsWith('ERR_TLS') || e.code.startsWith('ERR_SSL') || e.code === 'EPROTO')) {
    return `TLS error: ${e.message}`;
  }
  return e?.message ?? String(err);
}
