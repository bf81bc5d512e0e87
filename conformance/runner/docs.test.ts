/**
 * The documentation a newcomer reads names files that exist: every `path/like/this` under the
 * project's folders, and every bare `file.ts` / `.md` / `.json` / `.py` / `.mjs` name, is a file
 * of the checkout or one the reporters write. (The pass counts shown in the adapters README are
 * checked against a real run by conformance/adapters/python/python-adapter.test.ts.)
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './case-loader.ts';
import { reporters } from './reporters/index.ts';

export const DOCS = [
  'README.md',
  'conformance/PROTOCOL.md',
  'conformance/CASE-FORMAT.md',
  'conformance/INTERPRETING.md',
  'conformance/adapters/README.md',
  'conformance/cases/README.md',
  'spec/README.md',
];

function basenames(dir: string, out = new Set<string>()): Set<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === '.git' || e.name === 'reports') continue;
    if (e.isDirectory()) basenames(join(dir, e.name), out);
    else out.add(e.name);
  }
  return out;
}

/** The names in backticks that are not files, and why. */
export function missingFileNames(doc: string, text: string, known: Set<string>): string[] {
  const generated = new Set([...reporters.map((r) => r.fileName), 'spec.html', 'report.previous.json']);
  const bad: string[] = [];
  for (const m of text.matchAll(/`([^`\s]+)`/g)) {
    const t = m[1];
    if (/^(schemas|conformance|spec|reference|cli|bench|bin|\.ci)\/[A-Za-z0-9_./-]*$/.test(t)) {
      if (!existsSync(join(REPO_ROOT, t)) && !existsSync(join(REPO_ROOT, dirname(doc), t))) bad.push(t);
    } else if (/^reports\/[A-Za-z0-9_./-]*\.[a-z]+$/.test(t)) {
      // A kept report's file (reports/linux-6.12/…); report folders the runner writes are not kept.
      if (!existsSync(join(REPO_ROOT, t))) bad.push(t);
    } else if (/^[A-Za-z0-9_./-]+\.(ts|md|json|py|mjs)$/.test(t) && t.includes('/')) {
      if (!existsSync(join(REPO_ROOT, dirname(doc), t))) bad.push(t);
    } else if (/^[A-Za-z0-9_.-]+\.(ts|md|json|py|mjs)$/.test(t)) {
      if (!known.has(t) && !generated.has(t)) bad.push(t);
    }
  }
  return bad;
}

describe('documentation', () => {
  const known = basenames(REPO_ROOT);
  for (const doc of DOCS) {
    it(`${doc} names only files that exist`, () => {
      expect(missingFileNames(doc, readFileSync(join(REPO_ROOT, doc), 'utf8'), known)).toEqual([]);
    });
  }
  it('the check finds a file that does not exist', () => {
    expect(missingFileNames('README.md', 'see `conformance/runner/nope.ts`, `run.ts`, `gone.ts`, `report.ktap`, `spec/ioas.md`, `reports/linux-6.12/README.md`, `reports/linux-6.12/nope.md`', known)).toEqual(['conformance/runner/nope.ts', 'gone.ts', 'reports/linux-6.12/nope.md']);
  });
});
