/**
 * The version `tandem --version` prints: the `version` of Tandem's own package.json, read
 * when asked. It is found by walking up from this module, so it holds from the source
 * checkout (`dist/src/cli/`) and from an installed package (`node_modules/tandem/dist/...`).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** How many folders up from this module package.json may be (`dist/src/cli` is three). */
const levelsMax = 6;

/** Tandem's version, from its package.json; throws when that file cannot be found. */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level <= levelsMax; level++) {
    const manifest = readManifest(join(dir, 'package.json'));
    if (manifest?.name === 'tandem' && typeof manifest.version === 'string') {
      return manifest.version;
    }
    dir = dirname(dir);
  }
  throw new Error("cannot find Tandem's package.json above this module");
}

function readManifest(file: string): { name?: unknown; version?: unknown } | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
  } catch {
    return null;
  }
}
