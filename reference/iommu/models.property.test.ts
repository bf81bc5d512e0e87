/**
 * Properties every model keeps for any accepted knob combination: registers decode back to the
 * knobs through the Linux macro positions, and every paging plan is self-consistent (aperture
 * a power-of-two span inside the input size, page sizes no larger than the aperture, smallest
 * page = the granule, levels cover the input bits).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAmdViProfile } from './amd-vi.ts';
import { createArmSmmuV3Profile } from './arm-smmuv3.ts';
import { createIntelVtdProfile } from './intel-vtd.ts';
import { createRiscvIommuProfile } from './riscv-iommu.ts';
import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  type PagingPlan,
  type UnitProfile,
} from './unit-profile.ts';

const FLAGS = [0, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID];

function checkPlan(p: PagingPlan): void {
  const span = p.aperture.end - p.aperture.start + 1n;
  expect(span & (span - 1n)).toBe(0n);
  expect(p.aperture.end < 1n << BigInt(p.config.ias) || p.config.ias >= 64).toBe(true);
  const smallest = p.pgsizeBitmap & -p.pgsizeBitmap;
  expect(smallest).toBe(BigInt(p.config.granule));
  // No page size larger than the aperture span.
  expect(p.pgsizeBitmap >> BigInt(span.toString(2).length)).toBe(0n);
  expect(p.config.levels).toBeGreaterThanOrEqual(1);
}

function checkProfile(p: UnitProfile): void {
  for (const f of FLAGS) {
    const r = p.planPaging(f);
    if (r.ok) checkPlan(r.plan);
    else expect(['EOPNOTSUPP', 'ENODEV']).toContain(r.errno);
  }
}

describe('model properties', () => {
  it('intel-vtd: SAGAW/MGAW/PSS/SLLPS decode to the knobs; plans consistent', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(3, 4, 5),
        fc.integer({ min: 1, max: 20 }),
        fc.constantFrom([], ['2M'], ['2M', '1G']),
        fc.boolean(),
        fc.boolean(),
        (levels, pasidBits, superpages, dirty, nesting) => {
          const p = createIntelVtdProfile({ levels, pasid_bits: pasidBits, superpages, dirty, nesting });
          const cap = p.registers.CAP_REG;
          const ecap = p.registers.ECAP_REG;
          expect(Number((cap >> 8n) & 0x1fn)).toBe(1 << (levels - 2));
          expect(Number((cap >> 16n) & 0x3fn) + 1).toBe(30 + 9 * (levels - 2));
          expect(Number((cap >> 34n) & 0xfn)).toBe(superpages.length === 0 ? 0 : superpages.length === 1 ? 1 : 3);
          expect(Number((ecap >> 35n) & 0x1fn)).toBe(pasidBits - 1);
          expect(Number((ecap >> 45n) & 1n)).toBe(dirty ? 1 : 0);
          expect(Number((ecap >> 26n) & 1n)).toBe(nesting ? 1 : 0);
          checkProfile(p);
        },
      ),
    );
  });

  it('arm-smmuv3: IDR fields decode to the knobs; plans consistent', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(32, 36, 40, 42, 44, 48, 52),
        fc.subarray(['4K', '16K', '64K'] as const, { minLength: 1 }),
        fc.integer({ min: 0, max: 20 }),
        fc.constantFrom('none', 'access', 'access+dirty'),
        fc.boolean(),
        (oas, granules, ssid, httu, vax52) => {
          const p = createArmSmmuV3Profile({ oas, granules, ssid_bits: ssid, httu, vax52 });
          const idr1 = p.registers.IDR1;
          const idr5 = p.registers.IDR5;
          expect(Number((idr1 >> 6n) & 0x1fn)).toBe(ssid);
          expect([32, 36, 40, 42, 44, 48, 52][Number(idr5 & 7n)]).toBe(oas);
          expect(Number((idr5 >> 4n) & 7n)).toBe((granules.includes('4K') ? 1 : 0) | (granules.includes('16K') ? 2 : 0) | (granules.includes('64K') ? 4 : 0));
          expect(Number((p.registers.IDR0 >> 6n) & 3n)).toBe(httu === 'none' ? 0 : httu === 'access' ? 1 : 2);
          checkProfile(p);
        },
      ),
    );
  });

  it('amd-vi: HATS/GATS/PASmax decode to the knobs; plans consistent', () => {
    fc.assert(
      fc.property(fc.constantFrom(4, 5, 6), fc.constantFrom(4, 5), fc.integer({ min: 1, max: 20 }), fc.boolean(), (levels, guest, pasid, dirty) => {
        const p = createAmdViProfile({ levels, guest_levels: guest, pasid_bits: pasid, dirty });
        const efr = p.registers.EFR;
        expect(Number((efr >> 10n) & 3n)).toBe(levels - 4);
        expect(Number((efr >> 12n) & 3n)).toBe(guest - 4);
        expect(Number((efr >> 32n) & 0x1fn)).toBe(pasid - 1);
        expect(Number((efr >> 52n) & 1n)).toBe(dirty ? 1 : 0);
        checkProfile(p);
      }),
    );
  });

  it('riscv-iommu: Sv bits decode to the knobs; plans consistent', () => {
    fc.assert(
      fc.property(fc.constantFrom(3, 4, 5), fc.constantFrom(0, 3, 4, 5), (sv, svx4) => {
        const p = createRiscvIommuProfile({ sv_levels: sv, svx4_levels: svx4 });
        const caps = p.registers.capabilities;
        expect(Number((caps >> 9n) & 7n)).toBe((1 << (sv - 2)) - 1);
        expect(Number((caps >> 17n) & 7n)).toBe(svx4 === 0 ? 0 : (1 << (svx4 - 2)) - 1);
        checkProfile(p);
      }),
    );
  });
});
