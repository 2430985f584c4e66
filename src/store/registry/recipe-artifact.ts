// A recipe in a registry: an OCI artifact (an image manifest with an
// artifactType) next to the image it was made from.
//   config    the empty descriptor ({}), as the image spec asks of artifacts
//   layers[0] the recipe itself (JSON, or its encrypted envelope)
//   layers[1…] every chunk the recipe names, so that the registry's garbage
//             collector keeps them as long as the recipe is there
//   subject   the source image's manifest, so the referrers API finds the
//             recipe from the image; registries without that API (Debian's
//             docker-registry 2.8 answers 404) get the spec's fallback: an
//             index under the tag sha256-<hex of the subject> listing them.
// Size limit: a registry refuses manifests past a limit (distribution's
// default is 4 MiB, registry/handlers/manifests.go maxManifestBodySize), and
// each chunk costs ~150 bytes of manifest: about 27,000 distinct non-zero
// chunks, 13 GiB of image at 512 KiB chunks. Past it, the push fails with a
// message that says so, before the manifest is sent (chunks uploaded so far
// stay, unreferenced, until the registry's gc).
import { MAX_RECIPE_BYTES, isEncryptedRecipe } from '../../chunk/recipe.js';
import { ENCRYPTED_RECIPE_MEDIA_TYPE, RECIPE_MEDIA_TYPE, type Recipe } from '../../chunk/types.js';
import { defaultPlatform, parsePlatform, type Descriptor, type RegistryReference } from '../../oci/index.js';
import { MANIFEST_ACCEPT, OCI_INDEX, OCI_MANIFEST } from '../../oci/media-types.js';
import { errorDetail, type RegistryClient } from '../../oci/registry-client.js';
import { digestOf, isHex64 } from '../../util/digest.js';
import { SmrError } from '../../util/errors.js';
import { discardBody, readBody } from '../../util/http.js';
import { blobExists, getBlob, uploadBlob } from './registry-blob.js';
import { repositoryUri } from './registry-uri.js';

export const RECIPE_ARTIFACT_TYPE = 'application/vnd.stream-my-root.recipe.v1+json';
export const CHUNK_MEDIA_TYPE = 'application/vnd.stream-my-root.chunk.v1';
const EMPTY_JSON = Buffer.from('{}');
const EMPTY_DESCRIPTOR: Descriptor = { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(EMPTY_JSON), size: 2 };
/** distribution's default limit on a manifest body. */
export const MAX_MANIFEST_BYTES = 4 << 20;

/** The artifact manifest: the recipe blob, then one descriptor per distinct chunk. */
function recipeArtifactManifest(recipeBlob: Descriptor, recipe: Recipe, subject?: Descriptor): Buffer {
  const seen = new Set<string>();
  const chunks: Descriptor[] = [];
  for (const c of recipe.chunks) {
    if (seen.has(c.digest)) continue;
    seen.add(c.digest);
    chunks.push({ mediaType: CHUNK_MEDIA_TYPE, digest: `sha256:${c.digest}`, size: c.storedLength });
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: RECIPE_ARTIFACT_TYPE,
    config: EMPTY_DESCRIPTOR,
    layers: [recipeBlob, ...chunks],
    ...(subject ? { subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size } } : {}),
  };
  return Buffer.from(JSON.stringify(manifest));
}

export interface PushedRecipe {
  /** docker://REG/REPO@sha256:… of the artifact. */
  reference: string;
  digest: string;
  /** The fallback tag, when the registry has no referrers API. */
  tag?: string;
}

/** Pushes the recipe artifact of an image whose chunks are already in the repository. */
export async function pushRecipeArtifact(client: RegistryClient, ref: RegistryReference, recipeBytes: Buffer, recipe: Recipe, subject?: Descriptor): Promise<PushedRecipe> {
  const encrypted = isEncryptedRecipe(recipeBytes);
  const recipeBlob: Descriptor = { mediaType: encrypted ? ENCRYPTED_RECIPE_MEDIA_TYPE : RECIPE_MEDIA_TYPE, digest: digestOf(recipeBytes), size: recipeBytes.length };
  const manifest = recipeArtifactManifest(recipeBlob, recipe, subject);
  if (manifest.length > MAX_MANIFEST_BYTES) {
    throw new SmrError(
      'RECIPE_TOO_LARGE',
      `the recipe artifact would be a ${(manifest.length / 2 ** 20).toFixed(1)} MiB manifest, past registries' 4 MiB limit (one entry per chunk): use a larger --chunk-size, or an s3:// or dir: store for an image this large`,
    );
  }
  for (const [digest, bytes] of [[EMPTY_DESCRIPTOR.digest, EMPTY_JSON], [recipeBlob.digest, recipeBytes]] as const) {
    if ((await blobExists(client, digest)) === null) await uploadBlob(client, digest, bytes);
  }
  const digest = digestOf(manifest);
  const res = await putManifest(client, digest, manifest, OCI_MANIFEST);
  const pushed: PushedRecipe = { reference: `${repositoryUri(ref)}@${digest}`, digest };
  // A registry that indexes subjects says so (OCI-Subject); others get the tag.
  if (subject && !res.headers['oci-subject']) {
    pushed.tag = referrersTag(subject.digest);
    await addToReferrersTag(client, pushed.tag, { mediaType: OCI_MANIFEST, digest, size: manifest.length, artifactType: RECIPE_ARTIFACT_TYPE });
  }
  return pushed;
}

/** The descriptor of a manifest the repository holds (for a subject), or undefined. */
export async function manifestDescriptor(client: RegistryClient, digest: string): Promise<Descriptor | undefined> {
  const url = await client.v2(`manifests/${digest}`);
  const res = await client.send(url, { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT } }, `HEAD ${url.pathname}`, [200, 404]);
  discardBody(res.body);
  const mediaType = res.headers['content-type']?.split(';')[0]?.trim();
  const size = Number(res.headers['content-length']);
  if (res.status !== 200 || !mediaType || !Number.isSafeInteger(size)) return undefined;
  return { mediaType, digest, size };
}

function referrersTag(digest: string): string {
  return digest.replace(':', '-');
}

async function putManifest(client: RegistryClient, reference: string, bytes: Buffer, mediaType: string) {
  const url = await client.v2(`manifests/${reference}`);
  const res = await client.send(url, { method: 'PUT', body: bytes, headers: { 'content-type': mediaType } }, `PUT ${url.pathname}`, [201]);
  if (res.status !== 201) {
    const why = `${client.target}: the registry refused the recipe artifact (${res.status}${await errorDetail(res)})`;
    throw new SmrError('REGISTRY_ERROR', res.status === 413 ? `${why}: the manifest is past its size limit; use a larger --chunk-size` : why);
  }
  discardBody(res.body);
  return res;
}

type ReferrerDescriptor = Descriptor & { artifactType?: string };

/** The spec's fallback: the index under tag sha256-<hex> gains our descriptor (once). */
async function addToReferrersTag(client: RegistryClient, tag: string, desc: ReferrerDescriptor): Promise<void> {
  const current = await referrersFromTag(client, tag);
  if (current.some((d) => d.digest === desc.digest)) return;
  const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [...current, desc] };
  await putManifest(client, tag, Buffer.from(JSON.stringify(index)), OCI_INDEX);
}

async function referrersFromTag(client: RegistryClient, tag: string): Promise<ReferrerDescriptor[]> {
  const url = await client.v2(`manifests/${tag}`);
  const res = await client.send(url, { headers: { accept: OCI_INDEX } }, `GET ${url.pathname}`, [200, 404]);
  if (res.status === 404) {
    discardBody(res.body);
    return [];
  }
  if (res.status !== 200) throw new SmrError('REGISTRY_ERROR', `${client.target}: GET ${url.pathname} answered ${res.status}${await errorDetail(res)}`);
  return manifestsOf(await readBody(res.body, MAX_MANIFEST_BYTES), `${client.target}:${tag}`);
}

function manifestsOf(bytes: Buffer, what: string): ReferrerDescriptor[] {
  let doc: { manifests?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8')) as { manifests?: unknown };
  } catch {
    throw new SmrError('REGISTRY_ERROR', `${what} is not a JSON index`);
  }
  return Array.isArray(doc.manifests) ? (doc.manifests as ReferrerDescriptor[]).filter((d) => typeof d?.digest === 'string') : [];
}

/** Artifacts whose subject is `digest`: the referrers API, else the tag fallback. */
async function referrers(client: RegistryClient, digest: string): Promise<ReferrerDescriptor[]> {
  const url = await client.v2(`referrers/${digest}`);
  url.searchParams.set('artifactType', RECIPE_ARTIFACT_TYPE);
  const res = await client.send(url, { headers: { accept: OCI_INDEX } }, `GET ${url.pathname}`, [200, 404]);
  if (res.status === 200) return manifestsOf(await readBody(res.body, MAX_MANIFEST_BYTES), `referrers of ${digest}`);
  discardBody(res.body);
  return referrersFromTag(client, referrersTag(digest));
}

interface JsonManifest {
  mediaType?: string;
  artifactType?: string;
  config?: { mediaType?: string };
  layers?: Descriptor[];
  manifests?: Array<Descriptor & { platform?: { os?: string; architecture?: string } }>;
}

function parseJson(bytes: Buffer, what: string): JsonManifest {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as unknown;
    if (doc && typeof doc === 'object') return doc as JsonManifest;
  } catch {
    /* below */
  }
  throw new SmrError('RECIPE_INVALID', `${what} is not a JSON manifest`);
}

const isRecipeArtifact = (m: JsonManifest) => m.artifactType === RECIPE_ARTIFACT_TYPE || m.config?.mediaType === RECIPE_ARTIFACT_TYPE;

/**
 * The recipe bytes for docker://REG/REPO:TAG (an image: its recipe artifact
 * is found through its referrers) or for the artifact itself.
 */
export async function fetchRecipeArtifact(client: RegistryClient, ref: RegistryReference, uri: string): Promise<{ bytes: Buffer; artifact: string }> {
  const root = await client.getManifest(ref.digest ?? ref.tag ?? 'latest');
  const doc = parseJson(root.bytes, uri);
  let artifactDigest: string | undefined;
  let artifact: JsonManifest | undefined;
  if (isRecipeArtifact(doc)) {
    artifactDigest = root.digest;
    artifact = doc;
  } else {
    // An image: its own digest, and for an index the manifest of this machine's platform.
    const subjects = [root.digest];
    if (Array.isArray(doc.manifests)) {
      const want = parsePlatform(defaultPlatform());
      for (const m of doc.manifests) if (m.platform?.os === want.os && m.platform?.architecture === want.architecture) subjects.push(m.digest);
    }
    for (const s of subjects) {
      const found = (await referrers(client, s)).filter((d) => d.artifactType === RECIPE_ARTIFACT_TYPE);
      // The most recent push comes last.
      if (found.length > 0) {
        artifactDigest = found[found.length - 1]!.digest;
        break;
      }
    }
    if (!artifactDigest) {
      throw new SmrError('RECIPE_NOT_FOUND', `${uri} has no recipe in the registry; push one with: smr convert ${uri} --store ${repositoryUri(ref)}`);
    }
    const fetched = await client.getManifest(artifactDigest);
    artifact = parseJson(fetched.bytes, `${repositoryUri(ref)}@${artifactDigest}`);
  }
  const where = `${repositoryUri(ref)}@${artifactDigest}`;
  const layer = artifact.layers?.[0];
  if (!isRecipeArtifact(artifact) || !layer || typeof layer.digest !== 'string' || !(layer.digest.startsWith('sha256:') && isHex64(layer.digest.slice(7))) || (layer.mediaType !== RECIPE_MEDIA_TYPE && layer.mediaType !== ENCRYPTED_RECIPE_MEDIA_TYPE)) {
    throw new SmrError('RECIPE_INVALID', `${where} is not a recipe artifact (no recipe as its first layer)`);
  }
  if (typeof layer.size === 'number' && layer.size > MAX_RECIPE_BYTES) throw new SmrError('RECIPE_INVALID', `${where}: the recipe layer is too large to be a recipe`);
  const bytes = await getBlob(client, layer.digest, MAX_RECIPE_BYTES);
  if (bytes === null) throw new SmrError('RECIPE_NOT_FOUND', `${where}: its recipe blob ${layer.digest} is missing from the repository`);
  if (digestOf(bytes) !== layer.digest) throw new SmrError('RECIPE_INVALID', `${where}: the recipe blob does not match its digest`);
  return { bytes, artifact: where };
}
