// The node list of --cache-shared: redis://HOST:PORT, memcached://HOST:PORT,
// or one redis-cluster://HOST:PORT,HOST:PORT,... (seeds of one Redis Cluster,
// used as one node through the client's own cluster support).
import { SmrError } from '../../util/errors.js';

const bad = (message: string) => new SmrError('USAGE', message);

export type NodeSpec =
  | { kind: 'redis' | 'memcached'; host: string; port: number; id: string }
  | { kind: 'redis-cluster'; seeds: Array<{ host: string; port: number }>; id: string };

const DEFAULT_PORTS = { redis: 6379, memcached: 11211 } as const;

function hostPort(text: string, defaultPort: number, whole: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(text);
  const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
  if (!m || port < 1 || port > 65535) throw bad(`--cache-shared: bad node '${whole}' (expected HOST:PORT)`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Parses the comma-separated list; a redis-cluster URL takes the rest of the list as its seeds. */
export function parseNodeList(list: string): NodeSpec[] {
  const specs: NodeSpec[] = [];
  const items = list.split(',').map((s) => s.trim());
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    const m = /^([a-z-]+):\/\/(.*)$/i.exec(item);
    if (!m) throw bad(`--cache-shared: bad node '${item}' (expected redis://HOST:PORT, memcached://HOST:PORT or redis-cluster://HOST:PORT,...)`);
    const scheme = m[1]!.toLowerCase();
    if (scheme === 'redis' || scheme === 'memcached') {
      const hp = hostPort(m[2]!.replace(/\/$/, ''), DEFAULT_PORTS[scheme], item);
      specs.push({ kind: scheme, ...hp, id: `${scheme}://${hp.host}:${hp.port}` });
    } else if (scheme === 'redis-cluster') {
      const seeds = [m[2]!, ...items.slice(i + 1)].filter(Boolean).map((s) => hostPort(s.replace(/^redis:\/\//, ''), DEFAULT_PORTS.redis, s));
      if (seeds.length === 0) throw bad(`--cache-shared: redis-cluster:// needs at least one seed HOST:PORT`);
      specs.push({ kind: 'redis-cluster', seeds, id: `redis-cluster://${seeds.map((s) => `${s.host}:${s.port}`).join(',')}` });
      break;
    } else {
      throw bad(`--cache-shared: unknown scheme '${scheme}://' in '${item}' (redis, memcached or redis-cluster)`);
    }
  }
  if (new Set(specs.map((s) => s.id)).size !== specs.length) throw bad('--cache-shared: a node is listed twice');
  return specs;
}
