/**
 * conform --fail-nth: every ioctl and kernel-call hook step swept as iommufd_fail_nth.c does,
 * over a representative part of the suite on the reference (the whole suite is measured by
 * hand: `ioasid conform --fail-nth`), and the mode's own rules: it catches an implementation
 * whose failure path leaks although no case marks that step, and it does not fail a case whose
 * steps have no allocation point at all.
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { getCatalog } from '../../schemas/lib/catalog.ts';
import type { Adapter, IoctlParams, IoctlResult } from '../../schemas/lib/adapter.ts';
import { createReferenceAdapter, FAIL_NTH_HOOKS } from '../../reference/adapter.ts';
import { DEFAULT_CASES_DIR, loadCases } from './case-loader.ts';
import { failNthFigures, KERNEL_CALL_HOOKS } from './fail-nth-mode.ts';
import { inProcessFactory } from './in-process.ts';
import { runSuite } from './run.ts';
import { byId, mkCase, runCases } from './testing/fixtures.ts';

const catalog = getCatalog();

async function runMode(paths: string[], make: () => Adapter, failNthAll = true) {
  const { cases, invalid } = loadCases(paths, catalog);
  return runSuite({
    factory: inProcessFactory(make),
    adapter: { kind: 'module', spec: 'test' },
    catalog,
    cases,
    invalid,
    caseTimeoutMs: 20_000,
    helloTimeoutMs: 5000,
    restartBudget: 2,
    bail: false,
    failNthAll,
    config: { command_line: ['conform', '--fail-nth'], cases: paths },
  });
}

/** Makes every injected failure of IOMMU_IOAS_ALLOC leave an IOAS behind (a leaking error path). */
function leakingOnAlloc(): Adapter {
  const ad = createReferenceAdapter();
  const ioctl = ad.ioctl.bind(ad);
  ad.ioctl = async (p: IoctlParams): Promise<IoctlResult> => {
    const r = (await ioctl(p)) as { errno?: string; fail_nth_reached?: boolean };
    if (p.cmd === 'IOMMU_IOAS_ALLOC' && r.fail_nth_reached && r.errno === 'ENOMEM') await ioctl({ ...p, arg: {} });
    return r as IoctlResult;
  };
  return ad;
}

/** Answers an injected failure of IOMMU_IOAS_ALLOC with another errno (the call still fails cleanly). */
function allocFailsWith(errno: string): () => Adapter {
  return () => {
    const ad = createReferenceAdapter();
    const ioctl = ad.ioctl.bind(ad);
    ad.ioctl = async (p: IoctlParams): Promise<IoctlResult> => {
      const r = (await ioctl(p)) as { errno?: string; fail_nth_reached?: boolean };
      if (p.cmd === 'IOMMU_IOAS_ALLOC' && r.fail_nth_reached && r.errno === 'ENOMEM') return { ...r, errno } as IoctlResult;
      return r as IoctlResult;
    };
    return ad;
  };
}

describe('conform --fail-nth', () => {
  it('sweeps the hooks the reference sweeps, no more', () => {
    expect([...KERNEL_CALL_HOOKS].sort()).toEqual([...FAIL_NTH_HOOKS].sort());
  });

  it('passes a representative part of the suite on the reference, with hundreds of injected failures', async () => {
    const parts = ['fail-nth', 'devices', 'vfio-compat', 'ioas/copy', 'viommu/attach'].map((p) => join(DEFAULT_CASES_DIR, p));
    const report = await runMode(parts, () => createReferenceAdapter());
    const notPassed = report.cases.filter((c) => c.result !== 'pass').map((c) => `${c.id}: ${c.message}`);
    expect(notPassed).toEqual([]);
    const f = failNthFigures(report);
    expect(f.failedInSweep).toEqual([]);
    expect(f.cases).toBe(report.cases.length);
    expect(f.injected).toBeGreaterThan(300);
  }, 60_000);

  it('accepts the errnos Linux injection points give (ENOENT from iommufd_get_object, EINVAL, EFAULT), not others', async () => {
    const c = mkCase('ioas/plain-alloc', [{ op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } }], { requires: ['ioas'] });
    for (const errno of ['ENOENT', 'EINVAL', 'EFAULT']) {
      const r = await runCases([c], allocFailsWith(errno), { catalog, failNthAll: true });
      expect(byId(r, 'ioas/plain-alloc').result, errno).toBe('pass');
    }
    const bad = await runCases([c], allocFailsWith('EIO'), { catalog, failNthAll: true });
    expect(byId(bad, 'ioas/plain-alloc')).toMatchObject({ result: 'fail', message: expect.stringMatching(/an injected failure gave EIO/) });
  });

  it('fails a case at a leaking error path no case marks fail_nth, and only in the mode', async () => {
    const c = mkCase('ioas/plain-alloc', [{ op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$i' } }], { requires: ['ioas'] });
    const swept = await runCases([c], leakingOnAlloc, { catalog, failNthAll: true });
    expect(byId(swept, 'ioas/plain-alloc')).toMatchObject({
      result: 'fail',
      failure: { step: { index: 0, fail_nth: 1 } },
      message: expect.stringMatching(/state changed after the injected failure/),
    });
    expect(failNthFigures(swept).failedInSweep).toEqual(['ioas/plain-alloc']);
    const plain = await runCases([c], leakingOnAlloc, { catalog });
    expect(byId(plain, 'ioas/plain-alloc').result).toBe('pass');
  });

  it('does not fail a case whose swept steps reach no allocation point', async () => {
    const c = mkCase('ioas/destroy-missing', [{ op: 'IOMMU_DESTROY', arg: { id: 99 }, errno: 'ENOENT' }], { requires: ['ioas'] });
    const report = await runCases([c], () => createReferenceAdapter(), { catalog, failNthAll: true });
    expect(byId(report, 'ioas/destroy-missing')).toMatchObject({ result: 'pass', fail_nth: { steps: 1, attempts: 1, injected: 0 } });
  });
});
