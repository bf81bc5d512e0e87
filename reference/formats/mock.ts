/**
 * The iommufd selftest mock page table: Linux builds it from generic_pt's AMDv1 format with
 * AMDV1_IOMMUFD_SELFTEST (drivers/iommu/generic_pt/fmt/iommu_mock.c, amdv1.h): a 2 KiB IOMMU
 * page (granule 2^11) so that CPU page ≠ IOMMU page is exercised, 4 KiB tables of 512 entries,
 * 56-bit VA, 51-bit OA, at most 5 levels; the mock format forces PT_FEAT_DYNAMIC_TOP and the
 * selftest driver starts at 3 levels (2^38 IOVA), growing the top on demand.
 * The huge size 512 × 2048 = 1 MiB is the level-1 default leaf; NextLevel=7 contiguous sizes
 * exist as in AMDv1 (the driver's pgsize bitmap decides which are used).
 * Units: one IOVA/OA unit = 2048 bytes (unitLg2 11).
 */

import { AmdV1, type AmdV1Variant } from './amd-v1.ts';
import type { FormatConfig, PtFormat } from './format.ts';

export const MOCK_VARIANT: AmdV1Variant = { name: 'mock', granuleLg2: 11, maxVaLg2: 56, maxOaLg2: 51, maxTopLevel: 4, defaultLevels: 3, dynamicTop: true };

export function createMock(config: FormatConfig): PtFormat {
  return new AmdV1(MOCK_VARIANT, config);
}
