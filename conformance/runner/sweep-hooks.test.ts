/**
 * fail_nth sweeps of hook steps against the real reference: the selftest's access ops
 * (iommufd_fail_nth.c access_pin) allocate in the kernel, so an ACCESS_PIN step must be swept
 * like an ioctl — some attempt must hit an injected ENOMEM and leave STATE unchanged.
 */
import { describe, expect, it } from 'vitest';
import { getCatalog } from '../../schemas/lib/catalog.ts';
import { createReferenceAdapter } from '../../reference/adapter.ts';
import { byId, mkCase, runCases } from './testing/fixtures.ts';

describe('fail_nth sweep of hook steps', () => {
  it('injects failures into ACCESS_PIN and checks each leaves the state as it was', async () => {
    const pin = mkCase('access/pin-sweep', [
      { op: 'MMAP', arg: { length: '0x8000' }, out: { addr: '$buf' } },
      { op: 'IOMMU_IOAS_ALLOC', out: { out_ioas_id: '$ioas' } },
      { op: 'IOMMU_IOAS_MAP', arg: { ioas_id: '$ioas', flags: ['FIXED_IOVA', 'READABLE', 'WRITEABLE'], user_va: '$buf', length: '0x8000', iova: '0x100000' } },
      { op: 'CREATE_ACCESS', arg: { ioas_id: '$ioas', flags: 1 }, out: { access_id: '$acc' } },
      { op: 'ACCESS_PIN', arg: { access_id: '$acc', iova: '0x100000', length: '0x8000' }, out: { pages_id: '$pages' }, fail_nth: true },
      { op: 'CHECK_REFS', arg: { addr: '$buf', length: '0x8000' }, out: { refs: [1, 1, 1, 1, 1, 1, 1, 1] } },
    ], { requires: ['ioas', 'access', 'test:refs'] });
    const report = await runCases([pin], () => createReferenceAdapter(), { catalog: getCatalog() });
    const c = byId(report, 'access/pin-sweep');
    expect(c.result).toBe('pass');
    expect(c.fail_nth?.steps).toBe(1);
    // At least one injected failure before the real call.
    expect(c.fail_nth?.attempts).toBeGreaterThan(1);
  });
});
