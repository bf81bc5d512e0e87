/**
 * The test kernel's configuration fragment (test-kernel.config): `CONFIG_X=y` lines applied on
 * top of `make tinyconfig`, then `make olddefconfig`. Kconfig drops a line whose dependencies
 * are not met without a word, so every line is checked against the resulting .config: a
 * missing dependency is an error that names the symbol, not a kernel without /dev/iommu.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FRAGMENT_PATH = join(dirname(fileURLToPath(import.meta.url)), 'test-kernel.config');

/** Symbol → value of every `CONFIG_X=v` line; `# CONFIG_X is not set` reads as 'n'. */
export function parseConfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const set = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (set) {
      out.set(set[1], set[2]);
      continue;
    }
    const unset = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line);
    if (unset) out.set(unset[1], 'n');
  }
  return out;
}

/** The fragment's lines that the resulting .config does not hold, as "CONFIG_X=y (got n)". */
export function unmetLines(fragment: string, dotConfig: string): string[] {
  const want = parseConfig(fragment);
  const got = parseConfig(dotConfig);
  const out: string[] = [];
  for (const [sym, value] of want) {
    const have = got.get(sym) ?? 'n';
    if (have !== value) out.push(`${sym}=${value} (got ${have === 'n' ? 'not set' : have})`);
  }
  return out;
}

export function readFragment(): string {
  return readFileSync(FRAGMENT_PATH, 'utf8');
}
