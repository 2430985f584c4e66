// Certificates and PSK files for the TLS tests, made with openssl in a
// directory of the test's own: a CA, a server certificate for 127.0.0.1 and
// localhost, and client certificates laid out as qemu's tls-creds-x509 and
// libnbd's tls-certificates= expect (ca-cert.pem, client-cert.pem,
// client-key.pem in one directory per client).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './run.js';

async function openssl(args: string[], cwd: string): Promise<void> {
  const r = await run('openssl', args, { cwd });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed CA in dir/ca-cert.pem and dir/ca-key.pem. */
export async function makeCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  await mkdir(dir, { recursive: true });
  await openssl(
    ['req', '-x509', ...KEY, '-keyout', 'ca-key.pem', '-out', 'ca-cert.pem', '-days', '2', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  return { cert: join(dir, 'ca-cert.pem'), key: join(dir, 'ca-key.pem') };
}

/** A certificate signed by the CA, written as dir/PREFIX-cert.pem and dir/PREFIX-key.pem. */
export async function issue(
  ca: { cert: string; key: string },
  dir: string,
  prefix: 'server' | 'client',
  cn: string,
): Promise<{ cert: string; key: string }> {
  await mkdir(dir, { recursive: true });
  const ext = join(dir, `${prefix}.ext`);
  const usage = prefix === 'server' ? 'serverAuth' : 'clientAuth';
  const san = prefix === 'server' ? 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' : '';
  await writeFile(ext, `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=${usage}\n${san}`);
  await openssl(['req', '-new', ...KEY, '-keyout', `${prefix}-key.pem`, '-out', `${prefix}.csr`, '-subj', `/CN=${cn}`], dir);
  await openssl(
    ['x509', '-req', '-in', `${prefix}.csr`, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', `${prefix}-cert.pem`],
    dir,
  );
  return { cert: join(dir, `${prefix}-cert.pem`), key: join(dir, `${prefix}-key.pem`) };
}

/** A PSK file with one identity:hexkey line per entry. */
export async function writePsk(path: string, keys: Record<string, string>): Promise<string> {
  await writeFile(path, Object.entries(keys).map(([id, hex]) => `${id}:${hex}\n`).join(''), { mode: 0o600 });
  return path;
}
