/**
 * `copied_back` on a failing step: whether the kernel writes the struct back on that failure.
 * IOMMU_DESTROY of an unknown id copies nothing back (main.c returns before
 * iommufd_ucmd_respond); IOMMU_IOAS_IOVA_RANGES with too small a capacity copies the struct
 * back with num_iovas set (EMSGSIZE).
 */
import { describe, expect, it } from 'vitest';
import { getCatalog } from '../../schemas/lib/catalog.ts';
import { createReferenceAdapter } from '../../reference/adapter.ts';
import { byId, mkCase, runCases } from './testing/fixtures.ts';

describe('copied_back', () => {
  it('passes when it says what the implementation did, fails otherwise', async () => {
    const cases = [
      mkCase('g/destroy-nothing-back', [{ op: 'IOMMU_DESTROY', arg: { id: 42 }, errno: 'ENOENT', copied_back: false }]),
      mkCase('g/destroy-claims-back', [{ op: 'IOMMU_DESTROY', arg: { id: 42 }, errno: 'ENOENT', copied_back: true }]),
      mkCase('g/ranges-back', [
        { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$ioas' } },
        { op: 'IOMMU_IOAS_IOVA_RANGES', arg: { ioas_id: '$ioas', num_iovas: 0, allowed_iovas: 0 }, errno: 'EMSGSIZE', copied_back: true, out: { num_iovas: 1 } },
      ]),
      mkCase('g/ranges-claims-nothing', [
        { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$ioas' } },
        { op: 'IOMMU_IOAS_IOVA_RANGES', arg: { ioas_id: '$ioas', num_iovas: 0, allowed_iovas: 0 }, errno: 'EMSGSIZE', copied_back: false },
      ]),
    ];
    const report = await runCases(cases, () => createReferenceAdapter(), { catalog: getCatalog() });
    expect(byId(report, 'g/destroy-nothing-back').result).toBe('pass');
    expect(byId(report, 'g/destroy-claims-back').result).toBe('fail');
    expect(byId(report, 'g/ranges-back').result).toBe('pass');
    expect(byId(report, 'g/ranges-claims-nothing').result).toBe('fail');
  });
});
