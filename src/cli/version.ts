// The version `smr --version` prints: package.json's, read at run time so that
// a release needs one edit. dist/src/cli/ is three levels below the package.
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
