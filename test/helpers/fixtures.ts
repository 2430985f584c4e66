// Where the fixture images built by scripts/fixtures live. scripts/setup
// builds them into $SMR_FIXTURES (default below) with a cache outside the
// clone; tests that need them skip with a clear reason when absent.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES_DIR = process.env.SMR_FIXTURES ?? '/var/cache/smr-ci/fixtures';

/** The repository root (this file compiles to dist/test/helpers/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export const IMAGES = ['static', 'base', 'python3', 'debian-slim', 'debian-python'] as const;

export function fixturesAvailable(): boolean {
  return existsSync(join(FIXTURES_DIR, 'fixtures.json'));
}

/** Reason string for node:test's `skip` option, or false when fixtures exist. */
export function skipWithoutFixtures(): string | false {
  return fixturesAvailable() ? false : `fixtures not built in ${FIXTURES_DIR} (run scripts/setup, or scripts/fixtures DIR and set SMR_FIXTURES)`;
}

export function fixtureLayout(name: string): string {
  return join(FIXTURES_DIR, name);
}

export function expectedListing(name: string): string {
  return join(FIXTURES_DIR, 'expected', `${name}.tsv`);
}

export interface FixturesJson {
  source_date_epoch: number;
  images: Array<{
    name: string;
    arch?: string;
    manifest?: { digest: string };
    index?: { digest: string };
    layers?: Array<{ digest: string; size: number; diff_id: string }>;
  }>;
}

export function fixturesJson(): FixturesJson {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, 'fixtures.json'), 'utf8')) as FixturesJson;
}
