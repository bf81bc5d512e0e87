/**
 * The package's root folder: the nearest folder above this module holding package.json. The
 * same answer whether this module runs from the checkout (schemas/lib/package-root.ts, through
 * tsx) or from the compiled build (dist/schemas/lib/package-root.js), in a checkout or in an
 * installed package; every data file the code reads at run time (schemas/, spec/,
 * conformance/cases, ...) is found from here, never from the running module's own folder, which
 * differs between the two.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function findPackageRoot(fromDir: string): string {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${fromDir}`);
  }
}

export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
