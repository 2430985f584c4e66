// Test servers by kind, started once per test run where possible.
//
// `npm test` passes --test-global-setup=…/global-setup.js: Node runs it once
// in the runner before any test file, it starts every kind and records each
// one's connection settings in an environment variable (SMR_TEST_SERVICE_S3,
// …) that the test processes inherit; its teardown stops them. A test file
// run on its own (node --test dist/test/…) finds no variable and starts its
// own instance for the file, stopped after the file's tests. So one Ceph
// cluster (~8 s to start, ~115 MB) serves the whole suite, and every file
// still runs alone.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { startMemcached } from './memcached.js';
import { startNginx } from './nginx.js';
import { startRedis } from './redis.js';
import { startS3 } from './s3.js';

export type ServiceKind = 's3' | 'redis' | 'memcached' | 'nginx';

export interface ServiceHandle {
  kind: ServiceKind;
  /** Connection settings, as environment variables (AWS_ENDPOINT_URL, REDIS_URL, …). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * nginx serves one directory for the whole run; tests put their trees in
 * fresh subdirectories of it (HTTP_STATIC_ROOT) and read them at
 * HTTP_STATIC_URL/<subdirectory>.
 */
async function startStaticWeb(): Promise<ServiceHandle> {
  const root = await mkdtemp(join(tmpdir(), 'smr-web-root-'));
  const nginx = await startNginx(root);
  return {
    ...nginx,
    env: { ...nginx.env, HTTP_STATIC_ROOT: root },
    async stop() {
      await nginx.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

export const STARTERS: Record<ServiceKind, () => Promise<ServiceHandle>> = {
  s3: startS3,
  redis: startRedis,
  memcached: startMemcached,
  nginx: startStaticWeb,
};

export const envVarOf = (kind: ServiceKind) => `SMR_TEST_SERVICE_${kind.toUpperCase()}`;

/**
 * Call at the top level of a test file: before its tests, the run's shared
 * instance of `kind` (or one of the file's own), whose settings the returned
 * object holds (read them inside tests or hooks, not at load time).
 */
export function useService(kind: ServiceKind): { env: Record<string, string> } {
  const holder = { env: {} as Record<string, string> };
  let own: ServiceHandle | null = null;
  before(async () => {
    const shared = process.env[envVarOf(kind)];
    if (shared) holder.env = JSON.parse(shared) as Record<string, string>;
    else {
      own = await STARTERS[kind]();
      holder.env = own.env;
    }
  }, { timeout: 600_000 });
  after(async () => {
    await own?.stop();
  });
  return holder;
}
