// The project stands on its own: nothing in scripts/, .ci/, src/, test/,
// bench/ or package.json refers to the shared folder that once sat beside
// the clone. The patterns are assembled below so that this file does not
// match them itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures.js';

const SHARED = 'shared';
const UP = '..';
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const PATTERNS: RegExp[] = [
  // the parent's folder by a relative path, or as path parts
  new RegExp(`${esc(UP)}[/'", ]+${SHARED}\\b`),
  // a shell substitution for the parent, then the folder
  new RegExp(`\\)/${SHARED}\\b`),
  // the variables that pointed there
  new RegExp(`\\bSMR_${SHARED.toUpperCase()}\\b|\\b${SHARED.toUpperCase()}_DIR\\b`),
  // the folder's absolute path, as it is from here
  new RegExp(esc(resolve(REPO_ROOT, UP, SHARED))),
];

const ROOTS = ['scripts', '.ci', 'src', 'test', 'bench'];

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

test('no file in scripts/, .ci/, src/, test/, bench/ or package.json refers to the shared folder', () => {
  const files = [...ROOTS.flatMap((r) => filesUnder(join(REPO_ROOT, r))), join(REPO_ROOT, 'package.json')];
  assert.ok(files.length > 50, `only ${files.length} files found under ${REPO_ROOT}`);
  const hits: string[] = [];
  for (const f of files) {
    const lines = readFileSync(f, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (PATTERNS.some((p) => p.test(line))) hits.push(`${relative(REPO_ROOT, f)}:${i + 1}: ${line.trim().slice(0, 160)}`);
    });
  }
  assert.ok(hits.length === 0, `${hits.length} references to the shared folder:\n${hits.join('\n')}`);
});
