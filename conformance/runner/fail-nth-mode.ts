/**
 * Which steps `ioasid conform --fail-nth` sweeps: as the kernel's iommufd_fail_nth.c arms
 * fail_nth around every ioctl of a test, the mode sweeps every ioctl step of every case, and
 * every hook step that stands for a kernel call (the selftest's IOMMU_TEST_CMD access and
 * device ops, which allocate in the kernel). The runner's own memory, DMA and state hooks are
 * never swept: they model the CPU, a device or the test harness, not an iommufd call.
 *
 * Invariant: the list of hooks equals the ones the reference answers with fail_nth_reached
 * (reference/adapter.ts FAIL_NTH_HOOKS; fail-nth-mode.test.ts keeps the two equal).
 */
import type { CaseStep, Report } from './types.ts';
import type { UapiCatalog } from '../../schemas/lib/catalog-types.ts';

/** Hook ops that model an iommufd kernel call and so take part in a FAIL_NTH sweep. */
export const KERNEL_CALL_HOOKS: ReadonlySet<string> = new Set([
  'CREATE_ACCESS', 'DESTROY_ACCESS', 'ACCESS_PIN', 'ACCESS_UNPIN', 'ACCESS_RW', 'ACCESS_REPLACE_IOAS', 'DEVICE_UNBIND', 'ADD_RESERVED',
  'TEST_CMD',
]);

/** Whether --fail-nth sweeps this step: an ioctl, or a hook standing for a kernel call. */
export function sweptInFailNthMode(catalog: UapiCatalog, step: CaseStep): boolean {
  // `fail_nth: false`: the case says Linux absorbs an injected failure at this step (CASE-FORMAT.md).
  if (step.op === 'CLOSE' || step.fail_nth === false) return false;
  return catalog.ioctls.has(step.op) || KERNEL_CALL_HOOKS.has(step.op);
}

/** The sweep figures of a run: swept steps, attempts, injected failures, and sweep failures. */
export interface FailNthFigures {
  cases: number;
  steps: number;
  attempts: number;
  injected: number;
  /** Case ids that failed at an injected failure (a wrong errno, or STATE changed). */
  failedInSweep: string[];
}

export function failNthFigures(report: Pick<Report, 'cases'>): FailNthFigures {
  const f: FailNthFigures = { cases: 0, steps: 0, attempts: 0, injected: 0, failedInSweep: [] };
  for (const c of report.cases) {
    if (c.failure?.step?.fail_nth) f.failedInSweep.push(c.id);
    if (!c.fail_nth) continue;
    f.cases++;
    f.steps += c.fail_nth.steps;
    f.attempts += c.fail_nth.attempts;
    f.injected += c.fail_nth.injected ?? 0;
  }
  return f;
}

/** The line conform --fail-nth prints after the run. */
export function failNthSummary(report: Pick<Report, 'cases'>): string {
  const f = failNthFigures(report);
  const bad = f.failedInSweep.length === 0 ? 'none failed at an injected failure'
    : `${f.failedInSweep.length} failed at an injected failure: ${f.failedInSweep.slice(0, 10).join(', ')}${f.failedInSweep.length > 10 ? ', …' : ''}`;
  return `fail-nth: ${f.cases} case(s) swept, ${f.steps} step(s), ${f.attempts} attempt(s), ${f.injected} injection point(s) exercised; ${bad}`;
}
