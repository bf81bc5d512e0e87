/**
 * conformance/renames.json: `{ "<old id>": "<new id>" }`. Report diffs and expectations follow
 * it, so that a renamed case keeps its history. Chains (a → b → c) are followed to the end.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './case-loader.ts';

export const DEFAULT_RENAMES = join(REPO_ROOT, 'conformance', 'renames.json');

export type Renames = ReadonlyMap<string, string>;

export function loadRenames(file = DEFAULT_RENAMES): Renames {
  if (!existsSync(file)) return new Map();
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const map = new Map<string, string>();
  for (const [from, to] of Object.entries(json)) {
    if (typeof to !== 'string') throw new Error(`${file}: the new id of '${from}' must be a string`);
    map.set(from, to);
  }
  return map;
}

/** The current id of a (possibly old) case id. */
export function currentId(renames: Renames, id: string): string {
  const seen = new Set<string>();
  let cur = id;
  while (renames.has(cur) && !seen.has(cur)) {
    seen.add(cur);
    cur = renames.get(cur)!;
  }
  return cur;
}

/** Every old id that now names `id`. */
export function oldIdsOf(renames: Renames, id: string): string[] {
  return [...renames.keys()].filter((old) => old !== id && currentId(renames, old) === id);
}
