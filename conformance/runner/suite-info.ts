/** What a report says about the suite that produced it: package version, git commit, rules version. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './repo-root.ts';

/** The version of conformance/INTERPRETING.md: how results are to be read. */
export const INTERPRETING_VERSION = '2';

let cached: { version: string; commit: string | null; interpreting: string } | undefined;

export function suiteInfo(): { version: string; commit: string | null; interpreting: string } {
  if (!cached) {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    let commit: string | null = null;
    // Only a checkout of the suite has a commit: an installed package sits in someone else's
    // repository, whose HEAD says nothing about the suite.
    if (existsSync(join(REPO_ROOT, '.git'))) {
      try {
        commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
      } catch {
        commit = null;
      }
    }
    cached = { version: pkg.version, commit, interpreting: INTERPRETING_VERSION };
  }
  return cached;
}
