/**
 * Golden values for the SMMUv3 model. Register literals were computed by hand from the field
 * positions in Linux arm-smmu-v3.h (IDR0_*, IDR1_*, IDR3_*, IDR5_*, IIDR_*) and the SMMUv3
 * spec §6.3; the arithmetic is in the comments.
 */
import { describe, expect, it } from 'vitest';
import { KnobError } from './knobs.ts';
import { createArmSmmuV3Profile, validateNestedSte } from './arm-smmuv3.ts';
import {
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  type PagingPlan,
} from './unit-profile.ts';

const plan = (knobs: Record<string, unknown>, flags: number): PagingPlan => {
  const r = createArmSmmuV3Profile(knobs).planPaging(flags);
  if (!r.ok) throw new Error(`${r.errno}: ${r.why}`);
  return r.plan;
};

describe('arm-smmuv3 ID registers', () => {
  it('default IDR0 = 0x090d769b', () => {
    // S2P b0 (0x1) | S1P b1 (0x2) | TTF=2 <<2 (0x8) | COHACC b4 (0x10) | HTTU=2 <<6 (0x80)
    // | HYP b9 (0x200) | ATS b10 (0x400) | ASID16 b12 | MSI b13 | SEV b14 (0x7000) | PRI b16 (0x10000)
    // | VMID16 b18 (0x40000) | CD2L b19 (0x80000) | STALL_MODEL=1 <<24 | ST_LEVEL=1 <<27 (0x9000000)
    const p = createArmSmmuV3Profile({});
    expect(p.registers.IDR0).toBe(0x090d769bn);
  });
  it('default IDR1 = 0x02739d10, IDR3 = 0x1504, IDR5 = 0x75, IIDR = 0x4870043b, AIDR = 0x2', () => {
    // IDR1: SIDSIZE=16 (0x10) | SSIDSIZE=20 <<6 (0x500) | PRIQS=19 <<11 (0x9800) | EVTQS=19 <<16 (0x130000)
    //       | CMDQS=19 <<21 (0x2600000)
    // IDR3: HAD b2 (0x4) | FWB b8 (0x100) | RIL b10 (0x400) | BBML=2 <<11 (0x1000)
    // IDR5: OAS=5 (48 bits) | GRAN4K b4 | GRAN16K b5 | GRAN64K b6 (0x70)
    // IIDR: ProductID 0x487 <<20 | Implementer 0x43b (Arm); AIDR: ArchMinorRev 2 = SMMUv3.2
    const p = createArmSmmuV3Profile({});
    expect(p.registers.IDR1).toBe(0x02739d10n);
    expect(p.registers.IDR2).toBe(0n);
    expect(p.registers.IDR3).toBe(0x1504n);
    expect(p.registers.IDR4).toBe(0n);
    expect(p.registers.IDR5).toBe(0x75n);
    expect(p.registers.IIDR).toBe(0x4870043bn);
    expect(p.registers.AIDR).toBe(0x2n);
  });
  it.each([
    [32, 0x70n],
    [40, 0x72n],
    [52, 0x76n],
  ])('oas %i → IDR5 %s', (oas, idr5) => {
    expect(createArmSmmuV3Profile({ oas }).registers.IDR5).toBe(idr5);
  });
  it('granules and VAX land in IDR5 bits 4-6 and 11:10', () => {
    expect(createArmSmmuV3Profile({ granules: ['64K'], vax52: true }).registers.IDR5).toBe(0x445n);
  });
});

describe('arm-smmuv3 GET_HW_INFO', () => {
  it('is struct iommu_hw_info_arm_smmuv3: type 2, 40 bytes of raw registers', () => {
    const info = createArmSmmuV3Profile({}).hwInfo(0);
    if ('errno' in info) throw new Error('errno');
    expect(info.type).toBe(2);
    expect(Buffer.from(info.bytes).toString('hex')).toBe(
      '00000000' + '00000000' + '9b760d09' + '109d7302' + '00000000' + '04150000' + '00000000' + '75000000' + '3b047048' + '02000000',
    );
    expect(createArmSmmuV3Profile({}).hwInfo(1)).toEqual({ errno: 'EOPNOTSUPP' });
  });
  it('dirty tracking needs HTTU access+dirty and coherent walks; PASID log2 = SSIDSIZE', () => {
    expect(createArmSmmuV3Profile({}).capabilities).toBe(IOMMU_HW_CAP_DIRTY_TRACKING);
    expect(createArmSmmuV3Profile({ httu: 'access' }).capabilities).toBe(0);
    expect(createArmSmmuV3Profile({ coherent: false }).capabilities).toBe(0);
    expect(createArmSmmuV3Profile({}).maxPasidLog2).toBe(20);
    expect(createArmSmmuV3Profile({ ssid_bits: 0 }).maxPasidLog2).toBe(0);
  });
  it('reserves the software MSI window 0x8000000 + 0x100000', () => {
    expect(createArmSmmuV3Profile({}).reservedRegions).toEqual([{ start: 0x8000000n, last: 0x80fffffn, kind: 'sw-msi' }]);
  });
});

describe('arm-smmuv3 paging domains', () => {
  it('default: stage 1, 4K granule, 48-bit, 4 levels, 4K|2M|1G', () => {
    const p = plan({}, 0);
    expect(p.config).toEqual({ format: 'arm-lpae-s1', levels: 4, granule: 4096, ias: 48, oas: 48, stage: 1 });
    expect(p.pgsizeBitmap).toBe(0x40201000n);
    expect(p.aperture.end).toBe(0xffffffffffffn);
  });
  it('64K granule with 52-bit OAS adds 4T blocks and 3 levels', () => {
    const p = plan({ granules: ['64K'], oas: 52 }, 0);
    expect(p.config).toMatchObject({ granule: 65536, ias: 48, oas: 52, levels: 3 });
    expect(p.pgsizeBitmap).toBe(0x40020010000n); // 64K | 512M | 4T
    const v = plan({ granules: ['64K'], oas: 52, vax52: true, host_va_bits: 52 }, 0);
    expect(v.config.ias).toBe(52);
    expect(v.aperture.end).toBe(0xfffffffffffffn);
  });
  it('16K granule only: 16K|32M, 4 levels at 48 bits', () => {
    const p = plan({ granules: ['16K', '64K'] }, 0);
    expect(p.config).toMatchObject({ granule: 16384, levels: 4 });
    expect(p.pgsizeBitmap).toBe(0x2004000n);
  });
  it.each([
    [48, 4, 1],
    [44, 4, 1],
    [42, 3, 8],
    [40, 3, 2],
  ])('NEST_PARENT with OAS %i → stage 2, %i levels, %i concatenated root tables', (oas, levels, concat) => {
    const p = plan({ oas }, IOMMU_HWPT_ALLOC_NEST_PARENT);
    expect(p.config).toMatchObject({ format: 'arm-lpae-s2', stage: 2, ias: oas, oas, levels, concat });
    expect(p.nestParent).toBe(true);
  });
  it('a NEST_PARENT stage 2 uses S2FWB only with IDR3.FWB and coherent walks (arm_smmu_domain_finalise)', () => {
    expect(plan({}, IOMMU_HWPT_ALLOC_NEST_PARENT).config.s2fwb).toBe(true);
    expect(plan({ fwb: false }, IOMMU_HWPT_ALLOC_NEST_PARENT).config.s2fwb).toBeUndefined();
    expect(plan({ stage1: false }, 0).config.s2fwb).toBeUndefined();
  });
  it('flag combinations the driver refuses are EOPNOTSUPP', () => {
    const p = createArmSmmuV3Profile({});
    expect(p.planPaging(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID)).toMatchObject({ errno: 'EOPNOTSUPP' });
    expect(p.planPaging(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING)).toMatchObject({ errno: 'EOPNOTSUPP' });
    expect(createArmSmmuV3Profile({ httu: 'none' }).planPaging(IOMMU_HWPT_ALLOC_DIRTY_TRACKING)).toMatchObject({ errno: 'EOPNOTSUPP' });
    expect(createArmSmmuV3Profile({ stage1: false }).planPaging(IOMMU_HWPT_ALLOC_NEST_PARENT)).toMatchObject({ errno: 'EOPNOTSUPP' });
    expect(plan({}, IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID)).toMatchObject({ dirtyTracking: true, config: { hw_dirty: true } });
    expect(plan({}, 0).config.hw_dirty).toBeUndefined();
    expect(plan({ stage1: false }, 0).config.format).toBe('arm-lpae-s2');
  });
});

describe('arm-smmuv3 nesting', () => {
  const data = (ste0: bigint, ste1: bigint) => {
    const b = new Uint8Array(16);
    const v = new DataView(b.buffer);
    v.setBigUint64(0, ste0, true);
    v.setBigUint64(8, ste1, true);
    return b;
  };
  it('STE validation: only V/Cfg/S1Fmt/S1ContextPtr/S1CDMax and S1DSS/S1C*/S1STALLD/EATS; else EIO', () => {
    expect(validateNestedSte(0x100bn, 0n)).toBeNull(); // V | Cfg=5 (S1) | ctxptr 0x1000
    expect(validateNestedSte(0x9n, 0n)).toBeNull(); // Cfg=4 bypass
    expect(validateNestedSte(0x1n, 0n)).toBeNull(); // Cfg=0 abort
    expect(validateNestedSte(0xdn, 0n)).toBe('EIO'); // Cfg=6 (S2) not allowed
    expect(validateNestedSte(0x1n | (1n << 52n), 0n)).toBe('EIO');
    expect(validateNestedSte(0x100bn, 0x10000000n)).toBeNull(); // EATS=1
    expect(validateNestedSte(0x100bn, 0x20000000n)).toBe('EIO'); // EATS=2
    expect(validateNestedSte(0x100bn, 0x100n)).toBe('EIO');
    expect(validateNestedSte(0xdeadbeef0n, 0xffn << 40n)).toBeNull(); // V=0: ignored
  });
  it('vIOMMU offered only with nesting and S2FWB, and only of type ARM_SMMUV3 (arm_smmu_get_viommu_size)', () => {
    expect(createArmSmmuV3Profile({}).viommuSupported(1)).toBe(true);
    expect(createArmSmmuV3Profile({}).viommuSupported(2)).toBe(false);
    expect(createArmSmmuV3Profile({ fwb: false }).viommuSupported(1)).toBe(false);
    expect(createArmSmmuV3Profile({ stage1: false }).viommuSupported(1)).toBe(false);
  });
  it('attach: foreign-driver domains EINVAL; another SMMU instance is EINVAL too', () => {
    const p = createArmSmmuV3Profile({});
    expect(p.checkAttach({ ...plan({}, 0), unitModel: 'intel-vtd' })).toBe('EINVAL');
    expect(p.foreignInstanceErrno).toBe('EINVAL');
  });
});

describe('arm-smmuv3 knobs', () => {
  it.each([
    [{ oas: 50 }, 'oas'],
    [{ granules: [] }, 'granules'],
    [{ granules: ['8K'] }, 'granules'],
    [{ httu: 'dirty' }, 'httu'],
    [{ ssid_bits: 21 }, 'ssid_bits'],
    [{ stage1: false, stage2: false }, 'stage2'],
    [{ levels: 4 }, 'levels'],
  ])('rejects %j naming %s', (knobs, key) => {
    expect(() => createArmSmmuV3Profile(knobs as Record<string, unknown>)).toThrow(KnobError);
    try {
      createArmSmmuV3Profile(knobs as Record<string, unknown>);
    } catch (e) {
      expect((e as KnobError).key).toBe(key);
    }
  });
});
