// docker:// URIs as stores (a repository) and as recipes (an image).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { impliedStore, recipeName } from '../../src/store/recipe-io.js';
import { parseRegistryStoreUri, repositoryUri } from '../../src/store/registry/registry-uri.js';

describe('registry URIs', () => {
  it('a store is a repository; a tag or digest is refused with one line', () => {
    const r = parseRegistryStoreUri('docker://127.0.0.1:5000/team/app');
    assert.equal(repositoryUri(r), 'docker://127.0.0.1:5000/team/app');
    assert.equal(repositoryUri(parseRegistryStoreUri('docker://localhost:5000/app')), 'docker://localhost:5000/app');
    for (const bad of ['docker://reg.example/app:v1', `docker://reg.example/app@sha256:${'a'.repeat(64)}`]) {
      assert.throws(() => parseRegistryStoreUri(bad), (e: Error & { code?: string }) => e.code === 'USAGE' && /a registry store is a repository/.test(e.message));
    }
    assert.throws(() => parseRegistryStoreUri('docker://reg.example/Bad_Name'), { code: 'INVALID_REFERENCE' });
  });

  it('a recipe names an image: it implies its repository as the store, and an export name', () => {
    assert.equal(impliedStore('docker://127.0.0.1:5000/team/app:v1'), 'docker://127.0.0.1:5000/team/app');
    assert.equal(impliedStore(`docker://reg.example:443/app@sha256:${'b'.repeat(64)}`), 'docker://reg.example:443/app');
    assert.equal(impliedStore('/srv/recipes/app.recipe'), undefined);
    assert.equal(impliedStore('s3://bucket/app.recipe'), undefined);
    assert.equal(recipeName('docker://127.0.0.1:5000/team/app:v1'), 'app');
    assert.equal(recipeName('app.recipe'), undefined);
  });
});
