// Node's --test-global-setup module: every test server kind, started once
// for the whole run (see service.ts). A kind that cannot start (no root for
// apt-get, say) is left out, and its tests start their own or skip with the
// reason.
import { envVarOf, STARTERS, type ServiceHandle, type ServiceKind } from './service.js';

const started: ServiceHandle[] = [];

export async function globalSetup(): Promise<void> {
  const kinds = (process.env.SMR_TEST_SERVICES ?? 's3,redis,memcached,nginx').split(',').filter(Boolean) as ServiceKind[];
  await Promise.all(
    kinds.map(async (kind) => {
      try {
        const h = await STARTERS[kind]();
        started.push(h);
        process.env[envVarOf(kind)] = JSON.stringify(h.env);
      } catch (err) {
        process.stderr.write(`test services: ${kind} did not start: ${(err as Error).message}\n`);
      }
    }),
  );
}

export async function globalTeardown(): Promise<void> {
  await Promise.all(started.map((h) => h.stop()));
}
