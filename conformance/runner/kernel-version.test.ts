/**
 * The runner's version skew: a case whose min_kernel is newer than the kernel the adapter's
 * hello names is unsupported with the reason, before anything is sent; an adapter that names no
 * kernel runs it; a request the adapter answers with -32003 (cannot express) makes the case
 * unsupported with the adapter's message, not an error.
 */
import { describe, expect, it } from 'vitest';
import { AdapterError, RPC_CANNOT_EXPRESS, type Adapter } from '../../schemas/lib/adapter.ts';
import { byId, mkCase, runCases } from './testing/fixtures.ts';
import { createToyAdapter } from './testing/toy-adapter.ts';

function onKernel(kernel: string | undefined, refuse?: string): () => Adapter {
  return () => {
    const a = createToyAdapter();
    return {
      ...a,
      hello: async (p) => ({ ...(await a.hello(p)), ...(kernel ? { kernel } : {}) }),
      ioctl: async (p) => {
        if (p.cmd === refuse) throw new AdapterError(RPC_CANNOT_EXPRESS, `${refuse}: not on this kernel`);
        return a.ioctl(p);
      },
    };
  };
}

describe('min_kernel and cannot-express', () => {
  const step = { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$ioas' } };
  const cases = [
    mkCase('k/new', [step], { min_kernel: '6.13', min_kernel_why: 'IOMMU_VIOMMU_ALLOC (v6.13)' }),
    mkCase('k/old', [step], { min_kernel: '6.12' }),
    mkCase('k/none', [step]),
  ];
  it('makes a case for a newer kernel unsupported, with the reason', async () => {
    const report = await runCases(cases, onKernel('6.12.118'));
    expect(byId(report, 'k/new').result).toBe('unsupported');
    expect(byId(report, 'k/new').message).toBe('needs Linux 6.13 or later; the implementation runs 6.12.118 (IOMMU_VIOMMU_ALLOC (v6.13))');
    expect(byId(report, 'k/old').result).toBe('pass');
    expect(byId(report, 'k/none').result).toBe('pass');
  });
  it('runs every case on an adapter that names no kernel, or a new enough one', async () => {
    for (const k of [undefined, '6.13.0-rc1']) {
      const report = await runCases(cases, onKernel(k));
      expect(report.cases.map((c) => c.result)).toEqual(['pass', 'pass', 'pass']);
    }
  });
  it('turns -32003 into unsupported with the adapter\'s reason', async () => {
    const refused = { op: 'IOMMU_IOAS_IOVA_RANGES', arg: { ioas_id: '$ioas', num_iovas: 0, allowed_iovas: 0 }, out: { num_iovas: 1 } };
    const report = await runCases([mkCase('k/refused', [step, refused])], onKernel('6.12.1', 'IOMMU_IOAS_IOVA_RANGES'));
    expect(byId(report, 'k/refused').result).toBe('unsupported');
    expect(byId(report, 'k/refused').message).toMatch(/^the implementation cannot express step 1 .*IOMMU_IOAS_IOVA_RANGES: not on this kernel/);
  });
});
