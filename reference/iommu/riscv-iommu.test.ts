/**
 * Golden values for the RISC-V IOMMU model: `capabilities` literals computed by hand from
 * Linux iommu-bits.h RISCV_IOMMU_CAPABILITIES_* (= RISC-V IOMMU spec §5.3).
 */
import { describe, expect, it } from 'vitest';
import { KnobError } from './knobs.ts';
import { createRiscvIommuProfile } from './riscv-iommu.ts';
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_PASID, type PagingPlan } from './unit-profile.ts';

const plan = (knobs: Record<string, unknown>): PagingPlan => {
  const r = createRiscvIommuProfile(knobs).planPaging(0);
  if (!r.ok) throw new Error(`${r.errno}: ${r.why}`);
  return r.plan;
};

describe('riscv-iommu capabilities register', () => {
  it('default = 0x000001f843468610', () => {
    // version 0x10 | Sv39 b9 | Sv48 b10 (0x610) | Svpbmt b15 (0x8000) | Sv39x4 b17 | Sv48x4 b18 (0x60000)
    // | MSI_FLAT b22 (0x400000) | AMO_HWAD b24 | ATS b25 (0x3000000) | IGS=0 | HPM b30 (0x40000000)
    // | PAS=56 <<32 (0x38_0000_0000) | PD8 b38 | PD17 b39 | PD20 b40 (0x1c0_0000_0000)
    expect(createRiscvIommuProfile({}).registers.capabilities).toBe(0x000001f843468610n);
  });
  it.each([
    [3, 0x000001f843468210n], // no Sv48 (− 0x400)
    [5, 0x000001f843468e10n], // + Sv57 b11 (0x800)
  ])('sv_levels %i → %s', (sv_levels, caps) => {
    expect(createRiscvIommuProfile({ sv_levels }).registers.capabilities).toBe(caps);
  });
  it('G-stage, MSI, IGS and PD fields', () => {
    // svx4 5 adds Sv57x4 b19 (0x80000); msi mrif adds AMO_MRIF b21 and MSI_MRIF b23 (0xa00000);
    // igs both = 2 <<28 (0x20000000); pasid_bits 8 keeps only PD8 (0x40_0000_0000)
    const caps = createRiscvIommuProfile({ svx4_levels: 5, msi: 'mrif', igs: 'both', pasid_bits: 8 }).registers.capabilities;
    expect(caps).toBe(0x0000007863ee8610n);
  });
});

describe('riscv-iommu iommufd view', () => {
  it('GET_HW_INFO is NONE; no dirty, no PASID, no reserved regions, no nesting', () => {
    const p = createRiscvIommuProfile({});
    expect(p.hwInfo(0)).toEqual({ type: 0, bytes: new Uint8Array(0) });
    expect(p.capabilities).toBe(0);
    expect(p.maxPasidLog2).toBe(0);
    expect(p.reservedRegions).toEqual([]);
    expect(p.nestedDataTypes).toEqual([]);
  });
  it.each([
    [3, 39, 3, 0x3fffffffffn, 0x40201000n],
    [4, 48, 4, 0x7fffffffffffn, 0x8040201000n],
    [5, 57, 5, 0xffffffffffffffn, 0x8040201000n],
  ])('sv_levels %i → Sv%i, %i levels, aperture [0, %s]', (sv_levels, bits, levels, end, pgsizes) => {
    const p = plan({ sv_levels });
    expect(p.config).toEqual({ format: 'riscv-sv', levels, granule: 4096, ias: bits, oas: 56 });
    expect(p.aperture).toEqual({ start: 0n, end });
    expect(p.pgsizeBitmap).toBe(pgsizes);
  });
  it('any allocation flag is EOPNOTSUPP', () => {
    const p = createRiscvIommuProfile({});
    expect(p.planPaging(IOMMU_HWPT_ALLOC_PASID)).toMatchObject({ errno: 'EOPNOTSUPP' });
    expect(p.planPaging(IOMMU_HWPT_ALLOC_DIRTY_TRACKING)).toMatchObject({ errno: 'EOPNOTSUPP' });
  });
  it('attach of an Sv57 domain to a unit without Sv57 is ENODEV', () => {
    const sv57 = plan({ sv_levels: 5 });
    expect(createRiscvIommuProfile({ sv_levels: 4 }).checkAttach(sv57)).toBe('ENODEV');
    expect(createRiscvIommuProfile({ sv_levels: 5 }).checkAttach(sv57)).toBeNull();
    expect(createRiscvIommuProfile({ sv_levels: 5 }).checkAttach(plan({ sv_levels: 3 }))).toBeNull();
    expect(createRiscvIommuProfile({}).checkAttach({ ...sv57, unitModel: 'amd-vi' })).toBe('EINVAL');
  });
  it.each([
    [{ sv_levels: 2 }, 'sv_levels'],
    [{ pas: 57 }, 'pas'],
    [{ pasid_bits: 16 }, 'pasid_bits'],
    [{ msi: 'imsic' }, 'msi'],
  ])('rejects %j naming %s', (knobs, key) => {
    try {
      createRiscvIommuProfile(knobs as Record<string, unknown>);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(KnobError);
      expect((e as KnobError).key).toBe(key);
    }
  });
});
