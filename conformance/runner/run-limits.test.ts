/**
 * The run's own limits (issue #15, defect 6): a second, late answer is reported against the
 * case that sent the request, not the case in flight when it arrived; a run has a deadline
 * after which the remaining cases are not run; an adapter that hangs after the smoke check is
 * given up after a few unresponsive restarts, not after a case timeout per remaining case.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UNRESPONSIVE_STARTS_MAX } from './run.ts';
import { stdioFactory } from './stdio.ts';
import { byId, mkCase, runCases } from './testing/fixtures.ts';
import { createToyAdapter } from './testing/toy-adapter.ts';

const BROKEN = join(import.meta.dirname, 'testing', 'broken-adapter.mjs');
const cmd = (mode: string, trigger = 'IOMMU_IOAS_MAP') => `${JSON.stringify(process.execPath)} ${JSON.stringify(BROKEN)} ${mode} ${trigger}`;
const alloc = (id: string) => mkCase(id, [{ op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } }]);
const mapCase = (id: string) => mkCase(id, [
  { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } },
  { op: 'IOMMU_IOAS_MAP', arg: { ioas_id: '$i', user_va: 0x100000, length: 4096, iova: 0x100000, flags: ['FIXED_IOVA'] } },
]);

describe('late answers', () => {
  it('a second answer that comes during a later case is the sending case\'s error; the later case passes', async () => {
    // The adapter repeats its answer to a/dup's MAP while b/busy's first request is in flight.
    const report = await runCases([mapCase('a/dup'), alloc('b/busy'), alloc('c/after')], stdioFactory(cmd('duplicate')), {}, true);
    expect(report.completed).toBe(true);
    expect(byId(report, 'a/dup')).toMatchObject({ result: 'error', message: expect.stringMatching(/request \d+ \(ioctl\) of this case was answered twice/) });
    expect(byId(report, 'b/busy').result).toBe('pass');
    expect(byId(report, 'c/after').result).toBe('pass');
    expect(report.run.restarts).toBe(0);
  });
});

describe('deadline', () => {
  it('stops the run when its deadline has passed: the rest are not run, and the run is incomplete', async () => {
    const cases = Array.from({ length: 6 }, (_, i) => mapCase(`d/${i}`));
    const report = await runCases(cases, () => createToyAdapter({ hangOn: 'IOMMU_IOAS_MAP' }), { deadlineMs: 300, caseTimeoutMs: 5000, restartBudget: 20 });
    expect(report.completed).toBe(false);
    expect(report.abort_reason).toMatch(/deadline of 0 s passed; \d+ case\(s\) not run/);
    // The first case's limit was cut to the deadline: it timed out well before its own 5 s.
    expect(report.cases[0].result).toBe('timeout');
    expect(report.summary.not_run).toBeGreaterThan(0);
    expect(report.run.duration_ms).toBeLessThan(4000);
  });
});

describe('an adapter that hangs after the smoke check', () => {
  it(`is given up after ${UNRESPONSIVE_STARTS_MAX} restarted instances that answer nothing after hello`, async () => {
    const flag = join(tmpdir(), `ioasid-hang-${process.pid}-${Date.now()}`);
    try {
      const cases = Array.from({ length: 10 }, (_, i) => alloc(`h/${i}`));
      const report = await runCases(cases, stdioFactory(cmd('hang-after-smoke'), { env: { ...process.env, HANG_FLAG: flag } }), { caseTimeoutMs: 300, restartBudget: 20 }, true);
      expect(report.smoke.ok).toBe(true);
      expect(report.completed).toBe(false);
      // The first instance answered the smoke check; its timeout and those of the next three
      // instances (each restarted, each silent after hello) end the run.
      expect(report.cases.map((c) => c.result)).toEqual(Array(UNRESPONSIVE_STARTS_MAX + 1).fill('timeout'));
      expect(report.abort_reason).toMatch(/timed out before answering anything after hello; restarting does not help, 6 case\(s\) not run/);
      expect(report.summary.not_run).toBe(10 - UNRESPONSIVE_STARTS_MAX - 1);
    } finally {
      rmSync(flag, { force: true });
    }
  });
});
