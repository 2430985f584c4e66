// Image reference parsing (the forms skopeo/crane users type) and platform
// matching: pure functions, checked case by case.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPlatform, parseImageReference } from '../../src/oci/index.js';
import { normalizeNamedTag } from '../../src/oci/reference.js';
import { listPlatforms, parsePlatform, pickPlatform, platformScore } from '../../src/oci/platform.js';
import { SmrError } from '../../src/util/errors.js';
import type { Descriptor } from '../../src/oci/types.js';

const D = `sha256:${'ab'.repeat(32)}`;

describe('parseImageReference', () => {
  const cases: Array<[string, object]> = [
    ['oci:/x/layout', { transport: 'oci', path: '/x/layout' }],
    ['oci:./rel:v1.2', { transport: 'oci', path: './rel', tag: 'v1.2' }],
    [`oci:/x/layout@${D}`, { transport: 'oci', path: '/x/layout', digest: D }],
    ['docker-archive:/t/a.tar', { transport: 'docker-archive', path: '/t/a.tar' }],
    ['docker-archive:/t/a.tar:fixtures/x:latest', { transport: 'docker-archive', path: '/t/a.tar', name: 'fixtures/x:latest' }],
    ['docker-archive:a.tar.gz:@1', { transport: 'docker-archive', path: 'a.tar.gz', index: 1 }],
    ['busybox', { transport: 'docker', domain: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/busybox', tag: 'latest' }],
    ['docker://busybox:1.36', { transport: 'docker', domain: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/busybox', tag: '1.36' }],
    ['docker.io/x/y', { transport: 'docker', domain: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'x/y', tag: 'latest' }],
    ['index.docker.io/library/debian:12', { transport: 'docker', domain: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/debian', tag: '12' }],
    ['127.0.0.1:5000/fixtures/static', { transport: 'docker', domain: '127.0.0.1:5000', apiHost: '127.0.0.1:5000', repository: 'fixtures/static', tag: 'latest' }],
    [`docker://localhost/a/b/c@${D}`, { transport: 'docker', domain: 'localhost', apiHost: 'localhost', repository: 'a/b/c', digest: D }],
    [`ghcr.io/o/r:t@${D}`, { transport: 'docker', domain: 'ghcr.io', apiHost: 'ghcr.io', repository: 'o/r', tag: 't', digest: D }],
    ['[::1]:5000/x', { transport: 'docker', domain: '[::1]:5000', apiHost: '[::1]:5000', repository: 'x', tag: 'latest' }],
  ];
  for (const [ref, want] of cases) {
    it(ref, () => assert.deepEqual(parseImageReference(ref), want));
  }

  const bad: Array<[string, string]> = [
    ['', 'INVALID_REFERENCE'],
    ['oci:', 'INVALID_REFERENCE'],
    ['docker-archive:', 'INVALID_REFERENCE'],
    ['docker-archive:x.tar:@one', 'INVALID_REFERENCE'],
    ['Busybox', 'INVALID_REFERENCE'],
    ['/tmp/layout', 'INVALID_REFERENCE'],
    ['reg.io/x:bad tag', 'INVALID_REFERENCE'],
    ['reg.io/x@sha256:123', 'INVALID_DIGEST'],
    ['reg.io/x@md5:0123456789abcdef0123456789abcdef', 'UNSUPPORTED_DIGEST'],
    ['dir:/x', 'UNSUPPORTED_SOURCE'],
    ['oci-archive:/x.tar', 'UNSUPPORTED_SOURCE'],
    ['https://reg.io/x', 'UNSUPPORTED_SOURCE'],
  ];
  for (const [ref, code] of bad) {
    it(`rejects ${JSON.stringify(ref)} with ${code}`, () => {
      assert.throws(() => parseImageReference(ref), (e: unknown) => e instanceof SmrError && e.code === code && !e.message.includes('\n'));
    });
  }

  it('hints at oci: for a path', () => {
    assert.throws(() => parseImageReference('/tmp/layout'), /oci:DIR/);
  });

  it('normalises RepoTags the way docker writes them', () => {
    assert.equal(normalizeNamedTag('fixtures/x:latest'), 'docker.io/fixtures/x:latest');
    assert.equal(normalizeNamedTag('docker.io/fixtures/x'), 'docker.io/fixtures/x:latest');
    assert.equal(normalizeNamedTag('busybox'), 'docker.io/library/busybox:latest');
    assert.equal(normalizeNamedTag('NOT VALID'), undefined);
  });
});

describe('platforms', () => {
  it('defaultPlatform follows the host', () => {
    const want = { x64: 'linux/amd64', arm64: 'linux/arm64' }[process.arch as string];
    if (want) assert.equal(defaultPlatform(), want);
    assert.match(defaultPlatform(), /^linux\/[a-z0-9]+(\/v\d+)?$/);
  });

  it('parses os/arch[/variant] and refuses the rest', () => {
    assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
    for (const bad of ['linux', 'linux/', 'a/b/c/d', 'linux/amd 64']) assert.throws(() => parsePlatform(bad), { code: 'INVALID_PLATFORM' });
  });

  it('matches aliases and default variants', () => {
    const p = (s: string) => parsePlatform(s);
    assert.equal(platformScore(p('linux/arm64'), p('linux/arm64/v8')), 2);
    assert.equal(platformScore(p('linux/arm64/v8'), p('linux/arm64')), 2);
    assert.equal(platformScore(p('linux/aarch64'), p('linux/arm64')), 2);
    assert.equal(platformScore(p('linux/x86_64'), p('linux/amd64')), 2);
    assert.equal(platformScore(p('linux/arm'), p('linux/arm/v7')), 2);
    assert.equal(platformScore(p('linux/arm/v6'), p('linux/arm/v7')), 0);
    assert.equal(platformScore(p('linux/amd64'), p('linux/amd64/v3')), 1);
    assert.equal(platformScore(p('linux/amd64/v3'), p('linux/amd64')), 0);
    assert.equal(platformScore(p('linux/amd64'), p('windows/amd64')), 0);
  });

  it('picks the best entry of an index and lists the platforms', () => {
    const entry = (os: string, architecture: string, variant?: string): Descriptor => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${architecture}${variant ?? ''}`,
      size: 1,
      platform: variant ? { os, architecture, variant } : { os, architecture },
    });
    const entries = [entry('linux', 'amd64', 'v3'), entry('linux', 'amd64'), entry('linux', 'arm64', 'v8'), entry('unknown', 'unknown')];
    assert.equal(pickPlatform(parsePlatform('linux/amd64'), entries)?.digest, 'sha256:amd64');
    assert.equal(pickPlatform(parsePlatform('linux/amd64/v3'), entries)?.digest, 'sha256:amd64v3');
    assert.equal(pickPlatform(parsePlatform('linux/arm64'), entries)?.digest, 'sha256:arm64v8');
    assert.equal(pickPlatform(parsePlatform('linux/s390x'), entries), undefined);
    assert.equal(listPlatforms(entries), 'linux/amd64/v3, linux/amd64, linux/arm64/v8');
  });
});
