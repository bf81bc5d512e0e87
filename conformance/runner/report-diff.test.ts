import { describe, expect, it } from 'vitest';
import { diffReports, renderDiff } from './report-diff.ts';
import { MergeError, mergeReports } from './report-merge.ts';
import { fixedReport } from './reporters/fixed-report.ts';
import { validateReport } from './schemas.ts';
import { summarize } from './summary.ts';
import type { CaseReport, Report } from './types.ts';

function withCases(cases: Partial<CaseReport>[], more: Partial<Report> = {}): Report {
  const full = cases.map((c) => ({ title: 't', area: c.id!.split('/')[0], clauses: ['X-1'], requires: [], duration_ms: 1, result: 'pass', ...c }) as CaseReport);
  return { ...structuredClone(fixedReport), cases: full, invalid_cases: [], summary: summarize(full, full.length, 0), ...more };
}

describe('report diff', () => {
  const oldR = withCases([
    { id: 'a/stays', result: 'pass' },
    { id: 'a/breaks', result: 'pass' },
    { id: 'a/heals', result: 'fail' },
    { id: 'a/unsupported-now', result: 'pass' },
    { id: 'a/old-name', result: 'fail' },
    { id: 'a/gone', result: 'pass' },
    { id: 'a/known', result: 'expected fail' },
  ]);
  const newR = withCases([
    { id: 'a/stays', result: 'pass' },
    { id: 'a/breaks', result: 'crash', message: 'adapter killed by SIGSEGV' },
    { id: 'a/heals', result: 'pass' },
    { id: 'a/unsupported-now', result: 'unsupported' },
    { id: 'a/new-name', result: 'pass' },
    { id: 'a/fresh', result: 'fail' },
    { id: 'a/known', result: 'unexpected pass' },
  ]);
  const d = diffReports(oldR, newR, new Map([['a/old-name', 'a/new-name']]));

  it('sorts changes into regressions, fixes, other changes, new and removed, following renames', () => {
    expect(d.regressions).toEqual([
      { id: 'a/breaks', from: 'pass', to: 'crash', message: 'adapter killed by SIGSEGV' },
      { id: 'a/known', from: 'expected fail', to: 'unexpected pass' },
    ]);
    expect(d.fixes).toEqual([{ id: 'a/heals', from: 'fail', to: 'pass' }, { id: 'a/new-name', old_id: 'a/old-name', from: 'fail', to: 'pass' }]);
    expect(d.changed).toEqual([{ id: 'a/unsupported-now', from: 'pass', to: 'unsupported' }]);
    expect(d.new_cases).toEqual([{ id: 'a/fresh', to: 'fail' }]);
    expect(d.removed).toEqual([{ id: 'a/gone', from: 'pass' }]);
    expect(d.unchanged).toBe(1);
  });
  it('renders the diff as text', () => {
    const text = renderDiff(d);
    expect(text).toContain('2 regression(s), 2 fix(es), 1 other change(s), 1 new, 1 removed, 1 unchanged');
    expect(text).toContain('- a/breaks: pass → crash — adapter killed by SIGSEGV');
    expect(text).toContain('- a/new-name (was a/old-name): fail → pass');
  });
});

describe('report merge', () => {
  const shard = (index: number, ids: [string, CaseReport['result']][], more: Partial<Report> = {}) => {
    const r = withCases(ids.map(([id, result]) => ({ id, result })), more);
    r.run = { ...r.run, shard: { index, count: 2 } };
    return r;
  };
  it('combines shards into one schema-valid report with recomputed counts', () => {
    const m = mergeReports([shard(2, [['b/x', 'fail']]), shard(1, [['a/y', 'pass'], ['c/z', 'pass']])], ['report', 'merge']);
    expect(m.cases.map((c) => c.id)).toEqual(['a/y', 'b/x', 'c/z']);
    expect(m.completed).toBe(true);
    expect(m.summary.total).toBe(3);
    expect(m.summary.by_result.pass).toBe(2);
    expect(m.summary.by_result.fail).toBe(1);
    expect(m.run.shard).toBeUndefined();
    expect(validateReport(m)).toEqual([]);
  });
  it('marks the merge incomplete when a shard is missing, and refuses overlaps and mixed implementations', () => {
    const m = mergeReports([shard(1, [['a/y', 'pass']])], ['report', 'merge']);
    expect(m.completed).toBe(false);
    expect(m.abort_reason).toBe('shard(s) 2/2 missing');
    expect(() => mergeReports([shard(1, [['a/y', 'pass']]), shard(2, [['a/y', 'pass']])], [])).toThrow(/a\/y is in input 1 and input 2/);
    const other = shard(2, [['b/x', 'pass']]);
    other.implementation = { name: 'other', version: '1' };
    expect(() => mergeReports([shard(1, [['a/y', 'pass']]), other], [])).toThrow(MergeError);
  });
});
