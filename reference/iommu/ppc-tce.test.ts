/**
 * PPC TCE model: upstream Linux behaviour (no paging domains) by default, and the window
 * geometry of the reference-only TCE paging domain.
 */
import { describe, expect, it } from 'vitest';
import { KnobError } from './knobs.ts';
import { createPpcTceProfile } from './ppc-tce.ts';

describe('ppc-tce', () => {
  it('by default follows spapr_tce_iommu_ops: no paging domain, hw_info NONE, no capabilities', () => {
    const p = createPpcTceProfile({});
    expect(p.planPaging(0)).toMatchObject({ ok: false, errno: 'EOPNOTSUPP' });
    expect(p.hwInfo(0)).toEqual({ type: 0, bytes: new Uint8Array(0) });
    expect(p.capabilities).toBe(0);
    expect(p.maxPasidLog2).toBe(0);
    expect(p.reservedRegions).toEqual([]);
  });
  it('paging: the default window is 1 GiB of 4K TCEs at bus address 0, one level, big-endian', () => {
    const r = createPpcTceProfile({ paging: true }).planPaging(0);
    if (!r.ok) throw new Error(r.why);
    expect(r.plan.config).toEqual({
      format: 'ppc-tce', levels: 1, granule: 4096, ias: 30, oas: 52, big_endian: true,
      window: { start: 0n, sizeBytes: 0x40000000n },
    });
    expect(r.plan.aperture).toEqual({ start: 0n, end: 0x3fffffffn });
    expect(r.plan.pgsizeBitmap).toBe(0x1000n);
  });
  it('paging: a 64-bit DDW window of 64K TCEs at 1 << 59', () => {
    const r = createPpcTceProfile({ paging: true, window_start: '0x800000000000000', window_size: '0x10000000000', page_shift: 16, levels: 2 }).planPaging(0);
    if (!r.ok) throw new Error(r.why);
    expect(r.plan.aperture).toEqual({ start: 0x800000000000000n, end: 0x80000ffffffffffn });
    expect(r.plan.config).toMatchObject({ levels: 2, granule: 65536, ias: 40 });
    expect(r.plan.pgsizeBitmap).toBe(0x10000n);
  });
  it('paging: flags are EOPNOTSUPP; foreign domains EINVAL', () => {
    const p = createPpcTceProfile({ paging: true });
    expect(p.planPaging(2)).toMatchObject({ errno: 'EOPNOTSUPP' });
    const r = p.planPaging(0);
    if (!r.ok) throw new Error(r.why);
    expect(p.checkAttach({ ...r.plan, unitModel: 'intel-vtd' })).toBe('EINVAL');
    expect(p.checkAttach(r.plan)).toBeNull();
  });
  it.each([
    [{ page_shift: 13 }, 'page_shift'],
    [{ window_size: '0x3000' }, 'window_size'],
    [{ window_size: 2048 }, 'window_size'],
    [{ window_start: '0x1000' }, 'window_start'],
    [{ window_start: -1 }, 'window_start'],
    [{ levels: 6 }, 'levels'],
    [{ window_size: '0x4000', levels: 3 }, 'levels'],
    // 1 GiB of 4 KiB TCEs over 5 levels: 5 × 9 + 12 = 57 bits (pnv_pci_ioda2_table_alloc_pages: < 55)
    [{ paging: true, levels: 5 }, 'levels'],
  ])('rejects %j naming %s', (knobs, key) => {
    try {
      createPpcTceProfile(knobs as Record<string, unknown>);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(KnobError);
      expect((e as KnobError).key).toBe(key);
    }
  });
});
