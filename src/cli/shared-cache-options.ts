// serve's options for the shared cache tier and the metrics endpoint.
import type { LogFn } from '../util/log.js';
import { parseNodeList } from '../cache/shared/node-url.js';
import type { ErasureCode } from '../cache/shared/fragments.js';
import type { SharedTierOptions } from '../cache/shared/shared-tier.js';
import { parseHostPort } from '../metrics/metrics-server.js';
import { UsageError, type Options } from './args.js';

const DEFAULT_SHARED_TIMEOUT_MS = 20;
const DEFAULT_SHARED_PREFIX = 'smr/';
/** How long a miss waits for another worker's origin fetch of the same chunk (a few origin round trips). */
const CLAIM_WAIT_MS = 250;

export const sharedCacheOptions = {
  spec: {
    'cache-shared': { type: 'string' },
    'shared-ec': { type: 'string' },
    'shared-timeout': { type: 'string' },
    'shared-prefix': { type: 'string' },
    metrics: { type: 'string' },
  } satisfies Options,
  help: `      --cache-shared URL[,URL...]  a cache shared by workers, between the disk
                           cache and the store: redis://HOST:PORT and
                           memcached://HOST:PORT nodes, or redis-cluster://SEED,...
      --shared-ec K+M      erasure code over the nodes (M is 0 or 1; default 4+1
                           with 5 nodes or more, else whole chunks on one node)
      --shared-timeout MS  a node slower than this is marked down (default ${DEFAULT_SHARED_TIMEOUT_MS})
      --shared-prefix P    key prefix, so fleets can share servers (default ${DEFAULT_SHARED_PREFIX})
      --metrics HOST:PORT  serve Prometheus metrics at http://HOST:PORT/metrics`,
};

function parseCode(text: string): ErasureCode {
  const m = /^(\d{1,2})\+(\d{1,2})$/.exec(text);
  if (!m) throw new UsageError(`--shared-ec: expected K+M (like 4+1), got '${text}'`);
  const k = Number(m[1]);
  const m_ = Number(m[2]);
  if (k < 1 || k > 32) throw new UsageError(`--shared-ec: K must be 1 to 32, got ${k}`);
  if (m_ > 1) throw new UsageError(`--shared-ec: M must be 0 or 1 (one XOR parity fragment), got ${m_}`);
  return { k, m: m_ };
}

/** The shared tier's settings, or undefined without --cache-shared. */
export function sharedCacheSettings(values: Record<string, unknown>, log: LogFn): SharedTierOptions | undefined {
  const list = values['cache-shared'] as string | undefined;
  for (const o of ['shared-ec', 'shared-timeout', 'shared-prefix']) {
    if (list === undefined && values[o] !== undefined) throw new UsageError(`--${o} needs --cache-shared`);
  }
  if (list === undefined) return undefined;
  const nodes = parseNodeList(list);
  const t = (values['shared-timeout'] as string | undefined) ?? String(DEFAULT_SHARED_TIMEOUT_MS);
  if (!/^\d{1,6}$/.test(t) || Number(t) < 1) throw new UsageError(`--shared-timeout: expected milliseconds (1 or more), got '${t}'`);
  const prefix = (values['shared-prefix'] as string | undefined) ?? DEFAULT_SHARED_PREFIX;
  // memcached keys: at most 250 bytes, no spaces or control characters.
  if (!/^[!-~]{0,100}$/.test(prefix)) throw new UsageError(`--shared-prefix: up to 100 printable characters without spaces, got '${prefix}'`);
  const ec = values['shared-ec'] as string | undefined;
  const code = ec === undefined ? undefined : parseCode(ec);
  if (code && code.k + code.m > nodes.length) throw new UsageError(`--shared-ec ${ec} needs ${code.k + code.m} nodes, --cache-shared lists ${nodes.length}`);
  return { nodes, code, timeoutMs: Number(t), prefix, log, claimWaitMs: CLAIM_WAIT_MS };
}

/** --metrics HOST:PORT, checked early (before anything starts). */
export function metricsListen(values: Record<string, unknown>): string | undefined {
  const m = values.metrics as string | undefined;
  if (m !== undefined) parseHostPort(m, '--metrics');
  return m;
}
