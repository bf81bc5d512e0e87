/**
 * The conformance suite run on the embedded reference as it was at a past revision: the revision
 * is checked out into a temporary detached worktree (`git worktree add --detach`, so the work
 * tree, index and HEAD of the checkout are untouched), this checkout's node_modules linked into
 * it, and that revision's own `node bin/ioasid.mjs conform --report <dir>` run there; its
 * report.json is read back. The worktree is removed afterwards, whatever happened.
 *
 * A past report may predate today's report.schema.json: it is then used as far as `report diff`
 * needs it (case ids and results), and the mismatch is returned as a problem.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateReport } from './schemas.ts';
import type { Report } from './types.ts';

export interface SuiteRun {
  report?: Report;
  /** Why there is no report, or what is odd about it. */
  problems: string[];
  /** Where the revision's renames.json was (read before the worktree went away). */
  renames?: Record<string, string>;
}

/** A report.json read leniently: valid, or usable for a diff (cases with id and result). */
export function readReportLeniently(path: string, problems: string[]): Report | undefined {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    problems.push(`${path}: ${(e as Error).message}`);
    return undefined;
  }
  const bad = validateReport(json);
  if (bad.length === 0) return json as Report;
  const r = json as Partial<Report> & { cases?: unknown };
  if (!Array.isArray(r.cases) || !r.cases.every((c) => typeof (c as { id?: unknown }).id === 'string' && typeof (c as { result?: unknown }).result === 'string')) {
    problems.push(`${path}: not a usable report: ${bad[0].pointer} ${bad[0].message}`);
    return undefined;
  }
  problems.push(`${path}: an older report format (${bad[0].pointer} ${bad[0].message}); compared by case id and result only`);
  return { ...r, run: r.run ?? ({ suite: { version: '?' } } as Report['run']) } as Report;
}

/**
 * Runs the suite of `commit` (a full commit id of `repo`) on its reference, with `conformArgs`
 * added (e.g. --filter). `nodeModules` is linked into the checkout.
 */
export function runSuiteAtRevision(repo: string, commit: string, nodeModules: string, conformArgs: string[] = []): SuiteRun {
  const problems: string[] = [];
  const work = mkdtempSync(join(tmpdir(), 'ioasid-rev-'));
  const tree = join(work, 'tree');
  const reportDir = join(work, 'report');
  let added = false;
  try {
    const add = spawnSync('git', ['-C', repo, 'worktree', 'add', '--detach', '--quiet', tree, commit], { encoding: 'utf8' });
    if (add.status !== 0) {
      problems.push(`git worktree add ${commit.slice(0, 12)}: ${add.stderr.trim()}`);
      return { problems };
    }
    added = true;
    if (existsSync(nodeModules)) symlinkSync(nodeModules, join(tree, 'node_modules'), 'dir');
    const run = spawnSync(process.execPath, ['bin/ioasid.mjs', 'conform', '--report', reportDir, ...conformArgs], {
      cwd: tree,
      encoding: 'utf8',
      maxBuffer: 1 << 28,
      env: { ...process.env, NO_COLOR: '1' },
    });
    const reportPath = join(reportDir, 'report.json');
    if (!existsSync(reportPath)) {
      problems.push(`conform at ${commit.slice(0, 12)} wrote no report (exit ${run.status}): ${(run.stderr || run.stdout || '').trim().split('\n').slice(-3).join(' / ')}`);
      return { problems };
    }
    const report = readReportLeniently(reportPath, problems);
    const renamesPath = join(tree, 'conformance', 'renames.json');
    const renames = existsSync(renamesPath) ? (JSON.parse(readFileSync(renamesPath, 'utf8')) as Record<string, string>) : undefined;
    return { ...(report ? { report } : {}), problems, ...(renames ? { renames } : {}) };
  } finally {
    if (added) spawnSync('git', ['-C', repo, 'worktree', 'remove', '--force', tree], { encoding: 'utf8' });
    rmSync(work, { recursive: true, force: true });
  }
}
