/**
 * AMD-Vi IOMMU (model "amd-vi"): a unit like those in current EPYC parts, built from knobs into
 * its Extended Feature Register (EFR, MMIO 0x0030) and EFR2 (MMIO 0x01A0), and what Linux's amd
 * driver derives from them for iommufd: dirty tracking (HDSup), PASID width (PASmax, capped at
 * 16 bits by the driver), the paging-domain format (v1 host table by default or for
 * DIRTY_TRACKING, v2 = x86-64 table for PASID-capable domains), page sizes, aperture, and the
 * MSI and HyperTransport reserved windows.
 *
 * GET_HW_INFO: newest mainline (torvalds/linux drivers/iommu/amd/iommufd.c, amd_iommufd_hw_info
 * wired as amd_iommu_ops.hw_info) answers IOMMU_HW_INFO_TYPE_AMD = 4 with struct
 * iommu_hw_info_amd {__aligned_u64 efr; __aligned_u64 efr2} — the raw global EFR/EFR2. Older
 * kernels (and the stored uAPI header @ b4d90dbc) have no AMD type: knob `hw_info: "none"`.
 *
 * Field positions: drivers/iommu/amd/amd_iommu_types.h FEATURE_* (= AMD IOMMU spec 48882,
 * MMIO Offset 0030h). Driver behaviour: drivers/iommu/amd/iommu.c and init.c.
 *
 * Invariants: registers are a pure function of the knobs; derived values come from the EFR.
 */

import { ProfileUnit } from './profile-unit.ts';
import type { UnitFactory } from './unit.ts';
import { boolKnob, enumKnob, intKnob, knobDefaults, rangeKnob, readKnobs } from './knobs.ts';
import { compose, extractNumber, field, flag, isSet, LeBytes } from './register-fields.ts';
import {
  hwInfoNone,
  IOMMU_HW_INFO_TYPE_NONE,
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  maxAddr,
  SZ_1G,
  SZ_2M,
  SZ_4K,
  SZ_512G,
  type Errno,
  type HwInfo,
  type PagingPlan,
  type PlanResult,
  type ReservedRegion,
  type UnitProfile,
} from './unit-profile.ts';

export const MODEL = 'amd-vi';

/** EFR fields (amd_iommu_types.h FEATURE_*; GAMSup is FEATURE_GAM_VAPIC's 3-bit field 23:21). */
export const EFR = {
  PREFSUP: flag('PreFSup', 0),
  PPRSUP: flag('PPRSup', 1),
  XTSUP: flag('XTSup', 2),
  NXSUP: flag('NXSup', 3),
  GTSUP: flag('GTSup', 4),
  IASUP: flag('IASup', 6),
  GASUP: flag('GASup', 7),
  HESUP: flag('HESup', 8),
  PCSUP: flag('PCSup', 9),
  HATS: field('HATS', 11, 10),
  GATS: field('GATS', 13, 12),
  GLXSUP: field('GLXSup', 15, 14),
  GAMSUP: field('GAMSup', 23, 21),
  PASMAX: field('PASmax', 36, 32),
  GIOSUP: flag('GIoSup', 48),
  HASUP: flag('HASup', 49),
  EPHSUP: flag('EPHSup', 50),
  HDSUP: flag('HDSup', 52),
  SNPSUP: flag('SNPSup', 63),
} as const;

export const EFR2 = {
  GCR3TRPMODE: flag('GCR3TRPMode', 3),
  HT_RANGE_IGNORE: flag('HtRangeIgnore', 11),
} as const;

/** iommu.c MSI_RANGE_START/END and HT_RANGE_START/END. */
export const MSI_RANGE_START = 0xfee00000n;
export const MSI_RANGE_END = 0xfeefffffn;
export const HT_RANGE_START = 0xfd00000000n;
export const HT_RANGE_END = 0xffffffffffn;

/** enum iommu_hw_info_type value of struct iommu_hw_info_amd (after TEGRA241_CMDQV = 3). */
export const IOMMU_HW_INFO_TYPE_AMD = 4;

/** struct iommu_hw_info_amd {__aligned_u64 efr; __aligned_u64 efr2} = 16 bytes. */
export function amdHwInfoBytes(efr: bigint, efr2: bigint): Uint8Array {
  return new LeBytes(16).u64(0, efr).u64(8, efr2).bytes;
}

/** PASID_MASK: the driver handles at most 16-bit PASIDs. */
const PASID_MASK = 0xffff;

export const KNOBS = {
  /** Host (v1) page-table levels, EFR.HATS = levels − 4: 4 = 48-bit, 5 = 57-bit, 6 = 64-bit IOVA. */
  levels: intKnob(6, [4, 5, 6]),
  /** Guest (v2) page-table levels, EFR.GATS: 4 or 5 (5 assumes an LA57 host). */
  guest_levels: intKnob(5, [4, 5]),
  /** PASID width; 0 turns guest translation (GTSup) off. EFR.PASmax = bits − 1. */
  pasid_bits: rangeKnob(16, 0, 20),
  /** GCR3 table levels − 1 (EFR.GLXSup). */
  glx: rangeKnob(1, 0, 2),
  ppr: boolKnob(true),
  /** Host access/dirty bits (HASup, HDSup). */
  dirty: boolKnob(true),
  /** Linux `amd_iommu=pgtbl_v1|pgtbl_v2`: the table of a domain allocated with no flags. */
  pgtable: enumKnob('v1', ['v1', 'v2'] as const),
  /** EFR2.HtRangeIgnore: the HyperTransport window is not reserved. */
  ht_range_ignore: boolKnob(false),
  snp: boolKnob(false),
  /** EFR2.GCR3TRPMode: GCR3 root pointer as a GPA; newest Linux needs it for NEST_PARENT. */
  gcr3_trp_mode: boolKnob(false),
  /** GET_HW_INFO: "amd" (newest Linux, type 4 {efr, efr2}) or "none" (older kernels). */
  hw_info: enumKnob('amd', ['amd', 'none'] as const),
};

export function readAmdKnobs(input: Record<string, unknown>) {
  return readKnobs(MODEL, KNOBS, input);
}
export type AmdKnobs = ReturnType<typeof readAmdKnobs>;
export const DEFAULT_KNOBS = knobDefaults(KNOBS);

export function encodeEfr(k: AmdKnobs): bigint {
  const gt = k.pasid_bits > 0;
  return compose([
    [EFR.PREFSUP, true],
    [EFR.PPRSUP, k.ppr],
    [EFR.XTSUP, true],
    [EFR.NXSUP, true],
    [EFR.GTSUP, gt],
    [EFR.IASUP, true],
    [EFR.GASUP, true],
    [EFR.PCSUP, true],
    [EFR.HATS, k.levels - 4],
    [EFR.GATS, k.guest_levels - 4],
    [EFR.GLXSUP, k.glx],
    [EFR.GAMSUP, 1], // guest virtual APIC
    [EFR.PASMAX, gt ? k.pasid_bits - 1 : 0],
    [EFR.GIOSUP, gt],
    [EFR.HASUP, k.dirty],
    [EFR.EPHSUP, k.ppr],
    [EFR.HDSUP, k.dirty],
    [EFR.SNPSUP, k.snp],
  ]);
}

export function encodeEfr2(k: AmdKnobs): bigint {
  return compose([
    [EFR2.GCR3TRPMODE, k.gcr3_trp_mode],
    [EFR2.HT_RANGE_IGNORE, k.ht_range_ignore],
  ]);
}

export interface AmdDerived {
  hd: boolean;
  /** amd_iommu_gt_ppr_supported(): GT, PPR and EPHSup. */
  pasid: boolean;
  /** log2 of amd_iommu_max_pasid = min((1 << (PASmax+1)) − 1, PASID_MASK), floored as ilog2 does. */
  maxPasidLog2: number;
  hptLevels: number;
  gptLevels: number;
  htRangeIgnore: boolean;
  /** is_nest_parent_supported(): GT, GIoSup and EFR2.GCR3TRPMode. */
  nestParent: boolean;
}

export function deriveAmd(efr: bigint, efr2: bigint): AmdDerived {
  const gt = isSet(EFR.GTSUP, efr);
  const pasid = gt && isSet(EFR.PPRSUP, efr) && isSet(EFR.EPHSUP, efr);
  const maxPasid = gt ? Math.min(2 ** (extractNumber(EFR.PASMAX, efr) + 1) - 1, PASID_MASK) : 0;
  return {
    hd: isSet(EFR.HDSUP, efr),
    pasid,
    maxPasidLog2: pasid && maxPasid > 0 ? Math.floor(Math.log2(maxPasid)) : 0,
    hptLevels: Math.min(extractNumber(EFR.HATS, efr), 2) + 4,
    gptLevels: extractNumber(EFR.GATS, efr) === 1 ? 5 : 4,
    htRangeIgnore: isSet(EFR2.HT_RANGE_IGNORE, efr2),
    nestParent: gt && isSet(EFR.GIOSUP, efr) && isSet(EFR2.GCR3TRPMODE, efr2),
  };
}

/** AMD_IOMMU_PGSIZES: every power of two from 4K to 2^51 except 512G (hardware bug). */
export const AMD_IOMMU_PGSIZES = ((1n << 52n) - (1n << 12n)) ^ SZ_512G;
export const AMD_IOMMU_PGSIZES_V2 = SZ_4K | SZ_2M | SZ_1G;

function v1Plan(d: AmdDerived, dirty: boolean, pasidCapable: boolean, nestParent = false): PagingPlan {
  // hw_max_vasz_lg2 = min(64, (levels − 1)·9 + 21): 48, 57, 64 bits.
  const vaBits = Math.min(64, (d.hptLevels - 1) * 9 + 21);
  return {
    unitModel: MODEL,
    // amd_iommu_domain_alloc_paging_v1 (v6.19, generic_pt) enables PT_FEAT_AMDV1_FORCE_COHERENCE
    // unconditionally, as the io_pgtable.c v1 map did before it: FC (b60) in every PTE.
    config: { format: 'amd-v1', levels: d.hptLevels, granule: 4096, ias: vaBits, oas: 52, force_coherence: true },
    pgsizeBitmap: AMD_IOMMU_PGSIZES & maxAddr(vaBits),
    aperture: { start: 0n, end: maxAddr(vaBits) },
    dirtyTracking: dirty,
    nestParent,
    pasidCapable,
    attrs: {},
  };
}

function v2Plan(d: AmdDerived, pasidCapable: boolean): PagingPlan {
  // The v2 (x86-64) table is used without sign extension: 47 or 56 usable IOVA bits.
  const vaBits = d.gptLevels === 5 ? 56 : 47;
  return {
    unitModel: MODEL,
    config: { format: 'amd-v2', levels: d.gptLevels, granule: 4096, ias: d.gptLevels === 5 ? 57 : 48, oas: 52 },
    pgsizeBitmap: AMD_IOMMU_PGSIZES_V2,
    aperture: { start: 0n, end: maxAddr(vaBits) },
    dirtyTracking: false,
    nestParent: false,
    pasidCapable,
    attrs: {},
  };
}

export function planAmdPaging(d: AmdDerived, defaultTable: 'v1' | 'v2', flags: number): PlanResult {
  // amd_iommu_domain_alloc_paging_flags: a switch over exact flag values.
  switch (flags) {
    case IOMMU_HWPT_ALLOC_DIRTY_TRACKING:
    case IOMMU_HWPT_ALLOC_NEST_PARENT:
    case IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_NEST_PARENT: {
      const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
      const nest = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;
      if (dirty && !d.hd) break;
      if (nest && !d.nestParent) break;
      return { ok: true, plan: v1Plan(d, dirty, false, nest) };
    }
    case IOMMU_HWPT_ALLOC_PASID:
      if (!d.pasid) break;
      return { ok: true, plan: v2Plan(d, true) };
    case 0:
      return { ok: true, plan: defaultTable === 'v2' && d.pasid ? v2Plan(d, false) : v1Plan(d, false, false) };
    default:
      break;
  }
  return { ok: false, errno: 'EOPNOTSUPP', why: 'flags not supported by this unit' };
}

export function checkAmdAttach(d: AmdDerived, plan: PagingPlan): Errno | null {
  if (plan.unitModel !== MODEL) return 'EINVAL';
  if (plan.dirtyTracking && !d.hd) return 'EINVAL';
  if (plan.config.format === 'amd-v2' && !d.pasid) return 'EINVAL';
  if (plan.config.format === 'amd-v1' && plan.config.levels > d.hptLevels) return 'EINVAL';
  return null;
}

export function amdReservedRegions(d: AmdDerived): ReservedRegion[] {
  const out: ReservedRegion[] = [{ start: MSI_RANGE_START, last: MSI_RANGE_END, kind: 'msi' }];
  if (!d.htRangeIgnore) out.push({ start: HT_RANGE_START, last: HT_RANGE_END, kind: 'reserved' });
  return out;
}

export function createAmdViProfile(input: Record<string, unknown>): UnitProfile & { derived: AmdDerived } {
  const k = readAmdKnobs(input);
  const efr = encodeEfr(k);
  const efr2 = encodeEfr2(k);
  const d = deriveAmd(efr, efr2);
  return {
    model: MODEL,
    knobs: k,
    registers: { EFR: efr, EFR2: efr2 },
    derived: d,
    hwInfo(requestedType: number): HwInfo | { errno: Errno } {
      if (k.hw_info === 'none') return hwInfoNone(requestedType);
      // amd_iommufd_hw_info: only DEFAULT or AMD may be asked for.
      if (requestedType !== IOMMU_HW_INFO_TYPE_NONE && requestedType !== IOMMU_HW_INFO_TYPE_AMD) return { errno: 'EOPNOTSUPP' };
      return { type: IOMMU_HW_INFO_TYPE_AMD, bytes: amdHwInfoBytes(efr, efr2) };
    },
    capabilities: d.hd ? IOMMU_HW_CAP_DIRTY_TRACKING : 0,
    maxPasidLog2: d.maxPasidLog2,
    planPaging: (flags) => planAmdPaging(d, k.pgtable, flags),
    checkAttach: (plan) => checkAmdAttach(d, plan),
    foreignInstanceErrno: null,
    reservedRegions: amdReservedRegions(d),
    nestedDataTypes: [],
    viommuTypes: [],
    nestingFormats: [],
  };
}

/** The model as the core's IommuUnit (no set_dev_pasid for paging domains modelled; no nesting uAPI in the header). */
export const createAmdViUnit: UnitFactory = (knobs) => new ProfileUnit(createAmdViProfile(knobs), false, false);
