/**
 * `ioasid review`: the spec diff and the suite's report diff in one Markdown summary, the past
 * revision run in a temporary git worktree that is gone afterwards; usage errors name the bad
 * argument.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import review from './review.ts';
import { REPO_ROOT } from '../../conformance/runner/case-loader.ts';
import { resolveCommit } from '../../conformance/runner/spec-snapshot.ts';


const dir = mkdtempSync(join(tmpdir(), 'ioasid-review-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function quiet<T>(f: () => Promise<T>): Promise<{ value: T; stderr: string; stdout: string }> {
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    const value = await f();
    return { value, stderr: err.mock.calls.map((c) => String(c[0])).join(''), stdout: out.mock.calls.map((c) => String(c[0])).join('') };
  } finally {
    err.mockRestore();
    out.mockRestore();
  }
}

// The worktree paths only: other worktrees of the same repository may move their HEADs meanwhile.
const worktrees = () => execFileSync('git', ['-C', REPO_ROOT, 'worktree', 'list', '--porcelain'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('worktree ')).join('\n');

describe('ioasid review', () => {
  it('names a bad argument, exit 2', async () => {
    const r = await quiet(() => review.run(['no-such-rev-xyz', '--no-suite']));
    expect(r.value).toBe(2);
    expect(r.stderr).toContain("argument 'no-such-rev-xyz'");
    expect((await quiet(() => review.run([]))).value).toBe(2);
  });

  it.skipIf(resolveCommit(REPO_ROOT, 'HEAD') === undefined)('HEAD against the work tree: spec diff and report diff in one summary; the temporary worktree is removed', async () => {
    const before = worktrees();
    const r = await quiet(() => review.run(['HEAD', '--filter', 'ioas/map/zero-length*', '--report', join(dir, 'r')]));
    expect(r.value).toBe(0);
    const md = readFileSync(join(dir, 'r', 'review.md'), 'utf8');
    expect(md).toMatch(/^# Review: HEAD \([0-9a-f]{12}\) → the work tree\n/);
    expect(md).toContain('## Spec diff');
    expect(md).toContain('## Suite on the reference (cases matching ioas/map/zero-length*)');
    expect(md).toMatch(/- base: \d+ case\(s\): \d+ pass/);
    expect(md).toMatch(/0 regression\(s\)/);
    const spec = JSON.parse(readFileSync(join(dir, 'r', 'spec-diff.json'), 'utf8'));
    expect(spec.format).toBe('ioasid-spec-diff');
    expect(JSON.parse(readFileSync(join(dir, 'r', 'base', 'report.json'), 'utf8')).cases.length).toBeGreaterThan(0);
    expect(worktrees()).toBe(before);
  }, 120_000);
});
