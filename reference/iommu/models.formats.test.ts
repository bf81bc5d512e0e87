/**
 * Every paging domain a hardware model hands out must be buildable by reference/formats: the
 * table config uses only that format's keys, and its geometry agrees with the plan (levels,
 * granule; the table covers the aperture).
 */
import { describe, expect, it } from 'vitest';
import { createFormat } from '../formats/registry.ts';
import type { FormatConfig, FormatName } from '../formats/format.ts';
import { createUnit } from './registry.ts';
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, type UnitDevice } from './unit.ts';

const dev: UnitDevice = { name: 'd', noDirty: false, pasid: true };
const TOPOLOGIES: Array<Record<string, unknown>> = [
  { model: 'intel-vtd' }, { model: 'intel-vtd', levels: 3 }, { model: 'intel-vtd', levels: 5 },
  { model: 'intel-vtd', superpages: [] }, { model: 'intel-vtd', levels: 5, mgaw: 52 },
  { model: 'amd-vi' }, { model: 'amd-vi', levels: 4 }, { model: 'amd-vi', levels: 5 }, { model: 'amd-vi', guest_levels: 4 },
  { model: 'arm-smmuv3' }, { model: 'arm-smmuv3', granules: ['64K'], oas: 52 }, { model: 'arm-smmuv3', granules: ['16K'] },
  { model: 'arm-smmuv3', oas: 40 }, { model: 'arm-smmuv3', oas: 42 }, { model: 'arm-smmuv3', oas: 32 },
  { model: 'arm-smmuv3', granules: ['64K'], oas: 52, vax52: true, host_va_bits: 52 },
  { model: 'riscv-iommu' }, { model: 'riscv-iommu', sv_levels: 3 }, { model: 'riscv-iommu', sv_levels: 5 },
  { model: 'ppc-tce', paging: true },
  { model: 'ppc-tce', paging: true, window_start: '0x800000000000000', window_size: '0x10000000000', page_shift: 16, levels: 2 },
];
const FLAGS = [0, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_DIRTY_TRACKING];

describe('model table configs build in reference/formats', () => {
  for (const topo of TOPOLOGIES) {
    it(JSON.stringify(topo), () => {
      let built = 0;
      for (const flags of FLAGS) {
        const r = createUnit(topo).allocPaging(dev, flags, null);
        if (!r.ok) continue;
        const { format, ...config } = r.value.table;
        const f = createFormat(format as FormatName, config as FormatConfig);
        expect(f.levels).toBe(config.levels);
        expect(2 ** f.unitLg2).toBe(config.granule);
        // The table's input space reaches the aperture's end (window-relative for TCE).
        const span = r.value.aperture.last - r.value.aperture.start;
        expect(span < 1n << BigInt(config.ias as number)).toBe(true);
        built++;
      }
      expect(built).toBeGreaterThan(0);
    });
  }
});
