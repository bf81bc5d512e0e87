/**
 * Intel VT-d remapping unit (model "intel-vtd"): a scalable-mode unit of a current Xeon, built
 * from knobs into its Capability (CAP_REG, offset 0x08) and Extended Capability (ECAP_REG,
 * offset 0x10) registers, and everything Linux's intel-iommu driver derives from them for
 * iommufd: GET_HW_INFO (struct iommu_hw_info_vtd), dirty-tracking capability, PASID width,
 * the paging-domain format (first stage by default, second stage for NEST_PARENT or
 * DIRTY_TRACKING), page sizes, aperture, the IOAPIC/MSI reserved window, nested VTD_S1 data
 * validation, and attach compatibility.
 *
 * Field positions: Linux drivers/iommu/intel/iommu.h `cap_*`/`ecap_*` macros (= VT-d spec
 * §11.4.2 / §11.4.3). Driver behaviour: drivers/iommu/intel/iommu.c (paging_domain_alloc,
 * intel_iommu_domain_alloc_paging_flags, paging_domain_compatible, intel_iommu_hw_info,
 * intel_iommu_get_resv_regions) and nested.c / pasid.c.
 *
 * Invariants: registers are a pure function of the knobs; every derived value is computed from
 * the registers (as the driver does), never from the knobs directly.
 */

import { ProfileUnit } from './profile-unit.ts';
import { copyUserData, type NestedDomain } from './unit.ts';
import { vtdStage1 } from './vtd-stage1.ts';
import type { IommuUnit, UnitDevice, UnitFactory } from './unit.ts';
import { vtdPageRequest } from './page-request.ts';
import { boolKnob, intKnob, KnobError, knobDefaults, rangeKnob, readKnobs, setKnob, type KnobSpec } from './knobs.ts';
import { compose, extractNumber, field, flag, isSet, LeBytes } from './register-fields.ts';
import {
  copyDriverData,
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HW_INFO_TYPE_INTEL_VTD,
  IOMMU_HW_INFO_TYPE_NONE,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_VTD_S1,
  maxAddr,
  readU32Le,
  readU64Le,
  SZ_1G,
  SZ_2M,
  SZ_4K,
  type DriverData,
  type Errno,
  type HwInfo,
  type NestedResult,
  type PagingPlan,
  type PlanResult,
  type ReservedRegion,
  type UnitProfile,
} from './unit-profile.ts';

export const MODEL = 'intel-vtd';

/** CAP_REG fields (iommu.h cap_* macros). */
export const CAP = {
  ND: field('ND', 2, 0),
  AFL: flag('AFL', 3),
  RWBF: flag('RWBF', 4),
  PLMR: flag('PLMR', 5),
  PHMR: flag('PHMR', 6),
  CM: flag('CM', 7),
  SAGAW: field('SAGAW', 12, 8),
  MGAW: field('MGAW', 21, 16),
  ZLR: flag('ZLR', 22),
  ISOCH: flag('ISOCH', 23),
  FRO: field('FRO', 33, 24),
  SLLPS: field('SLLPS', 37, 34),
  PSI: flag('PSI', 39),
  NFR: field('NFR', 47, 40),
  MAMV: field('MAMV', 53, 48),
  DWD: flag('DWD', 54),
  DRD: flag('DRD', 55),
  FL1GP: flag('FS1GP', 56),
  PI: flag('PI', 59),
  FL5LP: flag('FS5LP', 60),
  ECMDS: flag('ECMDS', 61),
  ESIRTPS: flag('ESIRTPS', 62),
  ESRTPS: flag('ESRTPS', 63),
} as const;

/** ECAP_REG fields (iommu.h ecap_* macros). */
export const ECAP = {
  C: flag('C', 0),
  QI: flag('QI', 1),
  DT: flag('DT', 2),
  IR: flag('IR', 3),
  EIM: flag('EIM', 4),
  PT: flag('PT', 6),
  SC: flag('SC', 7),
  IRO: field('IRO', 17, 8),
  MHMV: field('MHMV', 23, 20),
  MTS: flag('MTS', 25),
  NEST: flag('NEST', 26),
  PRS: flag('PRS', 29),
  ERS: flag('ERS', 30),
  SRS: flag('SRS', 31),
  NWFS: flag('NWFS', 33),
  EAFS: flag('EAFS', 34),
  PSS: field('PSS', 39, 35),
  PASID: flag('PASID', 40),
  DIT: flag('DIT', 41),
  PDS: flag('PDS', 42),
  SMTS: flag('SMTS', 43),
  SSADS: flag('SSADS', 45),
  SSTS: flag('SSTS', 46),
  FSTS: flag('FSTS', 47),
  SMPWC: flag('SMPWC', 48),
  RPS: flag('RPS', 49),
  PMS: flag('PMS', 51),
} as const;

/** struct iommu_hw_info_vtd flags: IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17. */
export const IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 = 1 << 0;
/** struct iommu_hwpt_vtd_s1 flags. */
export const IOMMU_VTD_S1_SRE = 1n << 0n;
export const IOMMU_VTD_S1_EAFE = 1n << 1n;
export const IOMMU_VTD_S1_WPE = 1n << 2n;
export const VTD_S1_SIZE_BYTES = 24;

/** x86 interrupt address window, reported as IOMMU_RESV_MSI (iommu.c IOAPIC_RANGE_START/END). */
export const IOAPIC_RANGE_START = 0xfee00000n;
export const IOAPIC_RANGE_END = 0xfeefffffn;

/** Knob → default, as a current scalable-mode unit; see the model README in the final report. */
const mgawKnob: KnobSpec<number> = {
  default: 0,
  check: (v) =>
    typeof v === 'number' && Number.isInteger(v) && (v === 0 || (v >= 32 && v <= 64))
      ? null
      : 'must be 0 (= the width of `levels`) or an integer in 32..64',
};

export const KNOBS = {
  /** Second-stage levels the unit supports (SAGAW bit levels−2): 3 = 39-bit, 4 = 48-bit, 5 = 57-bit. */
  levels: intKnob(4, [3, 4, 5]),
  /** Maximum guest address width; 0 = the width of `levels`. */
  mgaw: mgawKnob,
  /** Second-stage large pages (SLLPS): "2M" = bit 34, "1G" = bit 35 (needs "2M"). */
  superpages: setKnob(['2M', '1G'], ['2M', '1G'] as const),
  scalable: boolKnob(true),
  first_stage: boolKnob(true),
  /** First-stage 1 GiB pages (CAP.FS1GP). */
  first_stage_1g: boolKnob(true),
  second_stage: boolKnob(true),
  nesting: boolKnob(true),
  /** Second-stage accessed/dirty (ECAP.SSADS, "SLADS" in Linux). */
  dirty: boolKnob(true),
  /** PASID width in bits; 0 = no PASID (ECAP.PASID clear). */
  pasid_bits: rangeKnob(20, 0, 20),
  caching_mode: boolKnob(false),
  snoop_control: boolKnob(false),
  /** Page-walk coherency (ECAP.C and ECAP.SMPWC). */
  coherent: boolKnob(true),
  supervisor_requests: boolKnob(true),
  /** Page requests (ECAP.PRS, scalable mode only): the unit has a page request queue for PRI. */
  page_requests: boolKnob(true),
  extended_accessed: boolKnob(false),
  /** ND: number of domain ids = 2^(4 + 2·ND). */
  nd: rangeKnob(6, 0, 6),
};

export type VtdKnobs = ReturnType<typeof readVtdKnobs>;

export function readVtdKnobs(input: Record<string, unknown>) {
  const k = readKnobs(MODEL, KNOBS, input);
  if (k.superpages.includes('1G') && !k.superpages.includes('2M')) {
    throw new KnobError(MODEL, 'superpages', '"1G" needs "2M" (Linux derives sizes from the highest SLLPS bit)');
  }
  if (!k.first_stage && !k.second_stage) {
    throw new KnobError(MODEL, 'second_stage', 'a unit needs at least one of first_stage and second_stage');
  }
  return k;
}

export const DEFAULT_KNOBS = knobDefaults(KNOBS);

/** width_to_agaw / agaw_to_width (iommu.c): agaw 1 = 39, 2 = 48, 3 = 57 bits. */
export const agawToWidth = (agaw: number): number => Math.min(30 + agaw * 9, 64);

export function encodeCapReg(k: VtdKnobs): bigint {
  const width = agawToWidth(k.levels - 2);
  const mgaw = k.mgaw === 0 ? width : k.mgaw;
  const sllps = (k.superpages.includes('2M') ? 1 : 0) | (k.superpages.includes('1G') ? 2 : 0);
  return compose([
    [CAP.ND, k.nd],
    [CAP.PLMR, true],
    [CAP.PHMR, true],
    [CAP.CM, k.caching_mode],
    [CAP.SAGAW, 1 << (k.levels - 2)],
    [CAP.MGAW, mgaw - 1],
    [CAP.ZLR, true],
    [CAP.FRO, 0x40],
    [CAP.SLLPS, sllps],
    [CAP.PSI, true],
    [CAP.NFR, 7],
    [CAP.MAMV, 18],
    [CAP.DWD, true],
    [CAP.DRD, true],
    [CAP.FL1GP, k.first_stage_1g],
    [CAP.PI, true],
    [CAP.FL5LP, k.levels === 5],
  ]);
}

export function encodeEcapReg(k: VtdKnobs): bigint {
  const pasid = k.scalable && k.pasid_bits > 0;
  return compose([
    [ECAP.C, k.coherent],
    [ECAP.QI, true],
    [ECAP.DT, true],
    [ECAP.IR, true],
    [ECAP.EIM, true],
    [ECAP.PT, true],
    [ECAP.SC, k.snoop_control],
    [ECAP.IRO, 0x50],
    [ECAP.MHMV, 0xf],
    [ECAP.NEST, k.scalable && k.nesting],
    [ECAP.PRS, k.scalable && k.page_requests],
    [ECAP.SRS, k.scalable && k.supervisor_requests],
    [ECAP.EAFS, k.scalable && k.extended_accessed],
    [ECAP.PSS, pasid ? k.pasid_bits - 1 : 0],
    [ECAP.PASID, pasid],
    [ECAP.DIT, true],
    [ECAP.PDS, k.scalable],
    [ECAP.SMTS, k.scalable],
    [ECAP.SSADS, k.scalable && k.dirty],
    [ECAP.SSTS, k.scalable && k.second_stage],
    [ECAP.FSTS, k.scalable && k.first_stage],
    [ECAP.SMPWC, k.scalable && k.coherent],
  ]);
}

/** The bytes of struct iommu_hw_info_vtd {u32 flags; u32 __reserved; u64 cap_reg; u64 ecap_reg}. */
export function vtdHwInfoBytes(cap: bigint, ecap: bigint): Uint8Array {
  // intel_iommu_hw_info sets the errata flag unconditionally.
  return new LeBytes(24).u32(0, IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17).u32(4, 0).u64(8, cap).u64(16, ecap).bytes;
}

/** What the driver derives from the two registers (iommu.h predicates). */
export interface VtdDerived {
  sm: boolean;
  pasid: boolean;
  ssads: boolean;
  nested: boolean;
  flts: boolean;
  slts: boolean;
  fl1gp: boolean;
  fl5lp: boolean;
  sllps: number;
  coherent: boolean;
  agaw: number;
  /** min(agaw_to_width(agaw), MGAW). */
  gaw: number;
  srs: boolean;
  eafs: boolean;
  /** ecap_prs: the unit takes PCIe page requests. */
  prs: boolean;
  maxPasidLog2: number;
}

export function deriveVtd(cap: bigint, ecap: bigint): VtdDerived {
  const sm = isSet(ECAP.SMTS, ecap);
  const sagaw = extractNumber(CAP.SAGAW, cap);
  // iommu_calculate_agaw: the highest SAGAW bit at or below width_to_agaw(57) = 3.
  let agaw = 3;
  while (agaw >= 0 && !(sagaw & (1 << agaw))) agaw--;
  const mgaw = extractNumber(CAP.MGAW, cap) + 1;
  const pasid = sm && isSet(ECAP.PASID, ecap);
  return {
    sm,
    pasid,
    ssads: sm && isSet(ECAP.SSADS, ecap) && isSet(ECAP.SMPWC, ecap),
    nested: sm && isSet(ECAP.NEST, ecap),
    flts: isSet(ECAP.FSTS, ecap),
    slts: isSet(ECAP.SSTS, ecap),
    fl1gp: isSet(CAP.FL1GP, cap),
    fl5lp: isSet(CAP.FL5LP, cap),
    sllps: extractNumber(CAP.SLLPS, cap),
    coherent: sm ? isSet(ECAP.SMPWC, ecap) : isSet(ECAP.C, ecap),
    agaw,
    gaw: Math.min(agawToWidth(agaw), mgaw),
    srs: isSet(ECAP.SRS, ecap),
    eafs: isSet(ECAP.EAFS, ecap),
    prs: isSet(ECAP.PRS, ecap),
    // iommu->iommu.max_pasids = 2 << ecap_pss when pasid_supported().
    maxPasidLog2: pasid ? extractNumber(ECAP.PSS, ecap) + 1 : 0,
  };
}

/** fls(SLLPS) → iommu_superpage → 2M, 2M|1G (domain_super_pgsize_bitmap). */
function ssPageSizes(sllps: number): bigint {
  const superpage = sllps === 0 ? 0 : 32 - Math.clz32(sllps);
  return SZ_4K | (superpage >= 1 ? SZ_2M : 0n) | (superpage >= 2 ? SZ_1G : 0n);
}

function ssMaxLeafLg2(sllps: number): number {
  const superpage = sllps === 0 ? 0 : 32 - Math.clz32(sllps);
  return superpage >= 2 ? 30 : superpage === 1 ? 21 : 12;
}

function fsPageSizes(d: VtdDerived): bigint {
  return SZ_4K | SZ_2M | (d.fl1gp ? SZ_1G : 0n);
}

export function planVtdPaging(d: VtdDerived, flags: number): PlanResult {
  const known = IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID;
  if (flags & ~known) return { ok: false, errno: 'EOPNOTSUPP', why: 'unknown allocation flag' };
  const nestParent = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;
  const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
  const pasidCapable = (flags & IOMMU_HWPT_ALLOC_PASID) !== 0;
  const attrs = { coherent: d.coherent, agaw: d.agaw, gaw: d.gaw };

  // Prefer the first stage when only PASID is asked for and the unit has it.
  if (!nestParent && !dirty && d.sm && d.flts) {
    const levels = d.gaw > 48 && d.fl5lp ? 5 : 4;
    return {
      ok: true,
      plan: {
        unitModel: MODEL,
        config: { format: 'vtd-fs', levels, granule: 4096, ias: levels === 5 ? 57 : 48, oas: 52, max_leaf_lg2: d.fl1gp ? 30 : 21 },
        pgsizeBitmap: fsPageSizes(d),
        // Canonical addresses: bit gaw−1 would sign-extend, so the aperture stops below it.
        aperture: { start: 0n, end: maxAddr(d.gaw - 1) },
        dirtyTracking: false,
        nestParent: false,
        pasidCapable,
        attrs,
      },
    };
  }
  if (nestParent && !d.nested) return { ok: false, errno: 'EOPNOTSUPP', why: 'no nesting (SMTS and NEST)' };
  if (dirty && !d.ssads) return { ok: false, errno: 'EOPNOTSUPP', why: 'no second-stage A/D (SMTS, SSADS, SMPWC)' };
  if (d.sm && !d.slts) return { ok: false, errno: 'EOPNOTSUPP', why: 'no second-stage translation' };
  return {
    ok: true,
    plan: {
      unitModel: MODEL,
      config: {
        format: 'vtd-ss',
        levels: d.agaw + 2,
        granule: 4096,
        ias: agawToWidth(d.agaw),
        oas: 52,
        max_leaf_lg2: ssMaxLeafLg2(d.sllps),
        // hw_info always reports ERRATA_772415_SPR17: a nest parent refuses read-only maps.
        ...(nestParent ? { force_writeable: true } : {}),
      },
      pgsizeBitmap: ssPageSizes(d.sllps),
      aperture: { start: 0n, end: maxAddr(d.gaw) },
      dirtyTracking: dirty,
      nestParent,
      pasidCapable,
      attrs,
    },
  };
}

/** paging_domain_compatible (newest): every mismatch is EINVAL. */
export function checkVtdAttach(d: VtdDerived, plan: PagingPlan): Errno | null {
  if (plan.unitModel !== MODEL) return 'EINVAL';
  if (plan.config.format === 'vtd-fs') {
    if (!d.sm || !d.flts) return 'EINVAL';
    if (!d.fl1gp && (plan.pgsizeBitmap & SZ_1G) !== 0n) return 'EINVAL';
  } else {
    if (plan.dirtyTracking && !d.ssads) return 'EINVAL';
    if (plan.nestParent && !d.nested) return 'EINVAL';
    if (d.sm && !d.slts) return 'EINVAL';
    if (!(d.sllps & 1) && (plan.pgsizeBitmap & SZ_2M) !== 0n) return 'EINVAL';
    if (!(d.sllps & 2) && (plan.pgsizeBitmap & SZ_1G) !== 0n) return 'EINVAL';
  }
  if (plan.attrs.coherent !== d.coherent) return 'EINVAL';
  if ((plan.attrs.gaw as number) > d.gaw || (plan.attrs.agaw as number) > d.agaw) return 'EINVAL';
  return null;
}

/** intel_iommu_domain_alloc_nested + iommu_copy_struct_from_user(IOMMU_HWPT_DATA_VTD_S1, __reserved). */
export function planVtdNested(d: VtdDerived, parent: PagingPlan, flags: number, data: DriverData): NestedResult {
  if (!d.nested || flags & ~IOMMU_HWPT_ALLOC_PASID) return { ok: false, errno: 'EOPNOTSUPP', why: 'no nesting or bad flags' };
  if (data.type !== IOMMU_HWPT_DATA_VTD_S1) return { ok: false, errno: 'EOPNOTSUPP', why: 'not IOMMU_HWPT_DATA_VTD_S1' };
  if (parent.unitModel !== MODEL || parent.config.format !== 'vtd-ss' || !parent.nestParent) {
    return { ok: false, errno: 'EINVAL', why: 'parent is not a second-stage NEST_PARENT domain' };
  }
  const bytes = copyDriverData(data, IOMMU_HWPT_DATA_VTD_S1, VTD_S1_SIZE_BYTES, VTD_S1_SIZE_BYTES);
  if (typeof bytes === 'string') return { ok: false, errno: bytes, why: 'iommu_hwpt_vtd_s1 length' };
  return {
    ok: true,
    nested: {
      dataType: data.type,
      format: 'vtd-fs',
      fields: {
        flags: readU64Le(bytes, 0),
        pgtbl_addr: readU64Le(bytes, 8),
        addr_width: BigInt(readU32Le(bytes, 16)),
      },
    },
  };
}

/**
 * Attach-time checks of a nested domain (intel_pasid_setup_nested): the stage-1 address width
 * must be 48, or 57 with CAP.FS5LP; SRE needs ECAP.SRS; EAFE needs ECAP.EAFS. All EINVAL.
 */
export function checkVtdNestedAttach(d: VtdDerived, fields: Record<string, bigint>): Errno | null {
  const aw = fields.addr_width;
  if (aw !== 48n && !(aw === 57n && d.fl5lp)) return 'EINVAL';
  if ((fields.flags & IOMMU_VTD_S1_SRE) !== 0n && !d.srs) return 'EINVAL';
  if ((fields.flags & IOMMU_VTD_S1_EAFE) !== 0n && !d.eafs) return 'EINVAL';
  return null;
}

/** enum iommu_hwpt_invalidate_data_type / iommu_hwpt_vtd_s1_invalidate_flags. */
export const IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 = 0;
export const IOMMU_VTD_INV_FLAGS_LEAF = 1;
const VTD_S1_INVALIDATE_SIZE_BYTES = 24;
const U64_MAX = (1n << 64n) - 1n;

/** One IOMMU_HWPT_INVALIDATE request array, as the core hands it to the driver. */
export interface InvalidateEntries {
  dataType: number;
  entryLenBytes: number;
  entryNum: number;
  readEntry(index: number): Uint8Array | null;
}

/**
 * intel_nested_cache_invalidate_user: struct iommu_hwpt_vtd_s1_invalidate {addr, npages, flags,
 * __reserved} entries in order; `handled` is what the kernel writes back to entry_num.
 * iommu_copy_struct_from_user_array goes through __iommu_copy_struct_from_user: entry_len below
 * or above the 24-byte struct → EINVAL (a longer entry is refused whatever its tail, unlike
 * copy_struct_from_user; the selftest's "structure size sanity" step, sizeof + 1 → EINVAL),
 * a faulting read → EFAULT. Unknown flags or a non-zero
 * __reserved → EOPNOTSUPP (every kernel since the op was merged in 6.8 checks both, nested.c);
 * an unaligned addr, or npages = U64_MAX with addr ≠ 0 → EINVAL.
 */
export function vtdInvalidateUser(array: InvalidateEntries): { handled: number; errno?: Errno } {
  if (array.dataType !== IOMMU_HWPT_INVALIDATE_DATA_VTD_S1) return { handled: 0, errno: 'EINVAL' };
  let handled = 0;
  for (let i = 0; i < array.entryNum; i++) {
    const entry = copyUserData(
      { type: array.dataType, lengthBytes: array.entryLenBytes, bytes: array.readEntry(i) },
      IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
      VTD_S1_INVALIDATE_SIZE_BYTES,
      VTD_S1_INVALIDATE_SIZE_BYTES,
    );
    if (!entry.ok) return { handled, errno: entry.errno as Errno };
    const raw = entry.value;
    const addr = readU64Le(raw, 0);
    const npages = readU64Le(raw, 8);
    const flags = readU32Le(raw, 16);
    if (flags & ~IOMMU_VTD_INV_FLAGS_LEAF || readU32Le(raw, 20) !== 0) return { handled, errno: 'EOPNOTSUPP' };
    if ((addr & 0xfffn) !== 0n || (npages === U64_MAX && addr !== 0n)) return { handled, errno: 'EINVAL' };
    handled++;
  }
  return { handled };
}

export const VTD_RESERVED_REGIONS: ReservedRegion[] = [{ start: IOAPIC_RANGE_START, last: IOAPIC_RANGE_END, kind: 'msi' }];

export function createIntelVtdProfile(input: Record<string, unknown>): UnitProfile & {
  derived: VtdDerived;
  checkNestedAttach(fields: Record<string, bigint>): Errno | null;
  invalidateNested(fields: Record<string, bigint>, array: InvalidateEntries): { handled: number; errno?: Errno };
  nestedStage1(fields: Record<string, bigint>): NestedDomain['stage1'] | null;
  checkNestedPasidAttach(parent: PagingPlan): Errno | null;
  iopfEnable(dev: UnitDevice): Errno | null;
  pageRequest: NonNullable<IommuUnit['pageRequest']>;
} {
  const k = readVtdKnobs(input);
  const cap = encodeCapReg(k);
  const ecap = encodeEcapReg(k);
  const d = deriveVtd(cap, ecap);
  const bytes = vtdHwInfoBytes(cap, ecap);
  return {
    model: MODEL,
    knobs: k,
    registers: { CAP_REG: cap, ECAP_REG: ecap },
    derived: d,
    hwInfo(requestedType: number): HwInfo | { errno: Errno } {
      if (requestedType !== IOMMU_HW_INFO_TYPE_NONE && requestedType !== IOMMU_HW_INFO_TYPE_INTEL_VTD) return { errno: 'EOPNOTSUPP' };
      return { type: IOMMU_HW_INFO_TYPE_INTEL_VTD, bytes: bytes.slice() };
    },
    capabilities: d.ssads ? IOMMU_HW_CAP_DIRTY_TRACKING : 0,
    maxPasidLog2: d.maxPasidLog2,
    planPaging: (flags) => planVtdPaging(d, flags),
    checkAttach: (plan) => checkVtdAttach(d, plan),
    foreignInstanceErrno: null,
    reservedRegions: VTD_RESERVED_REGIONS.map((r) => ({ ...r })),
    nestedDataTypes: d.nested ? [IOMMU_HWPT_DATA_VTD_S1] : [],
    viommuTypes: [],
    nestingFormats: d.nested ? ['vtd-fs'] : [],
    planNested: (parent, flags, data) => planVtdNested(d, parent, flags, data),
    checkNestedAttach: (fields) => checkVtdNestedAttach(d, fields),
    invalidateNested: (_fields, array) => vtdInvalidateUser(array),
    nestedStage1: (fields) => vtdStage1({ fs1gp: d.fl1gp }, fields),
    // intel_nested_set_dev_pasid: a dirty-tracking parent cannot back a PASID (2026 fix,
    // "Block PASID attachment to nested domain with dirty tracking", Fixes 67f6f56b5912).
    checkNestedPasidAttach: (parent) => (parent.dirtyTracking ? 'EINVAL' : null),
    iopfEnable: (dev) => (vtdPriEnabled(d, dev) ? null : 'ENODEV'),
    pageRequest: (dev, req, how) => (how.iopf && vtdPriEnabled(d, dev) ? vtdPageRequest(req, how.grpid, how.last) : null),
  };
}

/**
 * info->pri_enabled: intel_iommu_probe_device enables PRI on a scalable-mode unit with
 * ECAP.PRS for a device with ATS and PRI (pri_supported), the PRG response needing no PASID
 * the device lacks. intel_iommu_enable_iopf fails with ENODEV without it (v6.16+ from
 * iopf_for_domain_set in attach_dev / set_dev_pasid; v6.12–v6.15 from
 * iommu_dev_enable_feature(IOPF), which also answered ENODEV).
 */
function vtdPriEnabled(d: VtdDerived, dev: UnitDevice): boolean {
  return d.sm && d.prs && dev.pri === true;
}

/** The model as the core's IommuUnit (intel_iommu_set_dev_pasid; nesting through domain_alloc_nested). */
export const createIntelVtdUnit: UnitFactory = (knobs) => new ProfileUnit(createIntelVtdProfile(knobs), true, true);
