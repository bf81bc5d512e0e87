/**
 * Golden values for the AMD-Vi model. EFR literals computed by hand from the field positions of
 * Linux amd_iommu_types.h FEATURE_* (AMD IOMMU spec 48882, MMIO 0030h); arithmetic in comments.
 */
import { describe, expect, it } from 'vitest';
import { KnobError } from './knobs.ts';
import { AMD_IOMMU_PGSIZES, createAmdViProfile } from './amd-vi.ts';
import {
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  type PagingPlan,
} from './unit-profile.ts';

const plan = (knobs: Record<string, unknown>, flags: number): PagingPlan => {
  const r = createAmdViProfile(knobs).planPaging(flags);
  if (!r.ok) throw new Error(`${r.errno}: ${r.why}`);
  return r.plan;
};

describe('amd-vi Extended Feature Register', () => {
  it('default EFR = 0x0017000f00205adf', () => {
    // PreFSup b0 | PPRSup b1 | XTSup b2 | NXSup b3 | GTSup b4 (0x1f) | IASup b6 (0x40) | GASup b7 (0x80)
    // | PCSup b9 (0x200) → 0x2df; HATS=2 <<10 (0x800); GATS=1 <<12 (0x1000); GLXSup=1 <<14 (0x4000)
    // → 0x5adf; GAMSup=1 <<21 (0x200000); PASmax=15 <<32 (0xf_0000_0000);
    // GIoSup b48 | HASup b49 | EPHSup b50 | HDSup b52 → 0x17 <<48
    const p = createAmdViProfile({});
    expect(p.registers.EFR).toBe(0x0017000f00205adfn);
    expect(p.registers.EFR2).toBe(0n);
  });
  it.each([
    [4, 0x0017000f002052dfn],
    [5, 0x0017000f002056dfn],
    [6, 0x0017000f00205adfn],
  ])('levels %i → EFR %s (HATS = levels − 4)', (levels, efr) => {
    expect(createAmdViProfile({ levels }).registers.EFR).toBe(efr);
  });
  it('no PASIDs clears GTSup, PASmax and GIoSup; no dirty clears HASup and HDSup', () => {
    // 0x0017000f00205adf − GT (0x10) − PASmax (0xf <<32) − GIoSup (1 <<48) = 0x0016000000205acf
    expect(createAmdViProfile({ pasid_bits: 0 }).registers.EFR).toBe(0x0016000000205acfn);
    // − HASup (1 <<49) − HDSup (1 <<52): 0x17 − 0x12 = 0x05 → 0x0005000f00205adf
    expect(createAmdViProfile({ dirty: false }).registers.EFR).toBe(0x0005000f00205adfn);
  });
  it('EFR2 HtRangeIgnore is bit 11, GCR3TRPMode bit 3', () => {
    expect(createAmdViProfile({ ht_range_ignore: true }).registers.EFR2).toBe(0x800n);
    expect(createAmdViProfile({ gcr3_trp_mode: true }).registers.EFR2).toBe(0x8n);
  });
});

describe('amd-vi GET_HW_INFO and capabilities', () => {
  it('newest Linux: type AMD (4), struct iommu_hw_info_amd {efr, efr2} raw, 16 bytes', () => {
    const p = createAmdViProfile({});
    const info = p.hwInfo(0);
    if ('errno' in info) throw new Error('errno');
    expect(info.type).toBe(4);
    expect(Buffer.from(info.bytes).toString('hex')).toBe('df5a20000f001700' + '0000000000000000');
    expect('errno' in p.hwInfo(4)).toBe(false);
    expect(p.hwInfo(1)).toEqual({ errno: 'EOPNOTSUPP' });
    const ht = createAmdViProfile({ ht_range_ignore: true }).hwInfo(0);
    if ('errno' in ht) throw new Error('errno');
    expect(Buffer.from(ht.bytes).toString('hex')).toBe('df5a20000f001700' + '0008000000000000');
  });
  it('hw_info "none" (older kernels): type NONE, no payload, whatever was asked', () => {
    const p = createAmdViProfile({ hw_info: 'none' });
    expect(p.hwInfo(0)).toEqual({ type: 0, bytes: new Uint8Array(0) });
    expect(p.hwInfo(1)).toEqual({ type: 0, bytes: new Uint8Array(0) });
  });
  it('dirty tracking follows HDSup; PASID log2 = ilog2(min(2^(PASmax+1) − 1, 0xffff))', () => {
    expect(createAmdViProfile({}).capabilities).toBe(IOMMU_HW_CAP_DIRTY_TRACKING);
    expect(createAmdViProfile({ dirty: false }).capabilities).toBe(0);
    expect(createAmdViProfile({}).maxPasidLog2).toBe(15);
    expect(createAmdViProfile({ pasid_bits: 20 }).maxPasidLog2).toBe(15);
    expect(createAmdViProfile({ pasid_bits: 8 }).maxPasidLog2).toBe(7);
    expect(createAmdViProfile({ pasid_bits: 0 }).maxPasidLog2).toBe(0);
    expect(createAmdViProfile({ ppr: false }).maxPasidLog2).toBe(0);
  });
  it('reserves the MSI window (IOMMU_RESV_MSI) and the HyperTransport window', () => {
    expect(createAmdViProfile({}).reservedRegions).toEqual([
      { start: 0xfee00000n, last: 0xfeefffffn, kind: 'msi' },
      { start: 0xfd00000000n, last: 0xffffffffffn, kind: 'reserved' },
    ]);
    expect(createAmdViProfile({ ht_range_ignore: true }).reservedRegions).toHaveLength(1);
  });
});

describe('amd-vi paging domains', () => {
  it('AMD_IOMMU_PGSIZES is every power of two 4K..2^51 except 512G', () => {
    expect(AMD_IOMMU_PGSIZES).toBe(0x000fff7ffffff000n);
  });
  it.each([
    [4, 48, 0xffffffffffffn, 0x0000ff7ffffff000n],
    [5, 57, 0x1ffffffffffffffn, 0x000fff7ffffff000n],
    [6, 64, 0xffffffffffffffffn, 0x000fff7ffffff000n],
  ])('levels %i: v1 table, %i-bit aperture', (levels, bits, end, pgsizes) => {
    const p = plan({ levels }, 0);
    expect(p.config).toEqual({ format: 'amd-v1', levels, granule: 4096, ias: bits, oas: 52, force_coherence: true });
    expect(p.aperture).toEqual({ start: 0n, end });
    expect(p.pgsizeBitmap).toBe(pgsizes);
  });
  it('PASID flag → v2 table (4K|2M|1G), 5 or 4 levels per GATS, non-sign-extended aperture', () => {
    const p = plan({}, IOMMU_HWPT_ALLOC_PASID);
    expect(p.config).toEqual({ format: 'amd-v2', levels: 5, granule: 4096, ias: 57, oas: 52 });
    expect(p.pgsizeBitmap).toBe(0x40201000n);
    expect(p.aperture.end).toBe(0xffffffffffffffn);
    expect(plan({ guest_levels: 4 }, IOMMU_HWPT_ALLOC_PASID).aperture.end).toBe(0x7fffffffffffn);
    expect(plan({ pgtable: 'v2' }, 0).config.format).toBe('amd-v2');
  });
  it('DIRTY_TRACKING → v1 with dirty; refused flags are EOPNOTSUPP', () => {
    expect(plan({}, IOMMU_HWPT_ALLOC_DIRTY_TRACKING)).toMatchObject({ dirtyTracking: true, config: { format: 'amd-v1' } });
    expect(createAmdViProfile({ dirty: false }).planPaging(IOMMU_HWPT_ALLOC_DIRTY_TRACKING)).toMatchObject({ errno: 'EOPNOTSUPP' });
    expect(createAmdViProfile({ pasid_bits: 0 }).planPaging(IOMMU_HWPT_ALLOC_PASID)).toMatchObject({ errno: 'EOPNOTSUPP' });
    expect(createAmdViProfile({}).planPaging(IOMMU_HWPT_ALLOC_NEST_PARENT)).toMatchObject({ errno: 'EOPNOTSUPP' });
    expect(createAmdViProfile({}).planPaging(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID)).toMatchObject({ errno: 'EOPNOTSUPP' });
    expect(createAmdViProfile({}).planPaging(IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID)).toMatchObject({ errno: 'EOPNOTSUPP' });
  });
  it('NEST_PARENT (alone or with DIRTY) → v1 parent when GT, GIoSup and EFR2.GCR3TRPMode', () => {
    expect(plan({ gcr3_trp_mode: true }, IOMMU_HWPT_ALLOC_NEST_PARENT)).toMatchObject({ nestParent: true, dirtyTracking: false, config: { format: 'amd-v1' } });
    expect(plan({ gcr3_trp_mode: true }, IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING)).toMatchObject({ nestParent: true, dirtyTracking: true });
    expect(createAmdViProfile({ gcr3_trp_mode: true, pasid_bits: 0 }).planPaging(IOMMU_HWPT_ALLOC_NEST_PARENT)).toMatchObject({ errno: 'EOPNOTSUPP' });
  });

  it('attach: dirty domain on a unit without HDSup is EINVAL; foreign driver EINVAL', () => {
    const dirty = plan({}, IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
    expect(createAmdViProfile({ dirty: false }).checkAttach(dirty)).toBe('EINVAL');
    expect(createAmdViProfile({}).checkAttach(dirty)).toBeNull();
    expect(createAmdViProfile({}).checkAttach({ ...dirty, unitModel: 'intel-vtd' })).toBe('EINVAL');
  });
});

describe('amd-vi knobs', () => {
  it.each([
    [{ levels: 3 }, 'levels'],
    [{ guest_levels: 6 }, 'guest_levels'],
    [{ pasid_bits: -1 }, 'pasid_bits'],
    [{ pgtable: 'v3' }, 'pgtable'],
    [{ dirty: 'yes' }, 'dirty'],
  ])('rejects %j naming %s', (knobs, key) => {
    try {
      createAmdViProfile(knobs as Record<string, unknown>);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(KnobError);
      expect((e as KnobError).key).toBe(key);
    }
  });
});
