/**
 * Arm SMMUv3 (model "arm-smmuv3"): an SMMUv3.2 unit like Arm's MMU-700, built from knobs into
 * its ID registers IDR0–IDR5, IIDR and AIDR, and everything Linux's arm-smmu-v3 driver derives
 * from them for iommufd: GET_HW_INFO (struct iommu_hw_info_arm_smmuv3, the raw registers — the
 * driver does not mask them), dirty tracking (HTTU access+dirty with coherent walks), SSID
 * width, stage-1/stage-2 paging domains through io-pgtable-arm (granule, ias/oas, levels,
 * concatenation), the software MSI window, the vIOMMU and nested STE validation, and attach.
 *
 * Field positions: drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (IDR0_*, IDR1_*, IDR3_*, IDR5_*,
 * IIDR_*) = SMMUv3 spec (IHI 0070) §6.3.1–6.3.6. Bits the header does not name (IDR0 BTM b5,
 * DORMHINT b8, NS1ATS b11, ATOS b15, VMW b17, VATOS b20, TERM_MODEL b26; IDR3 HAD b2, FWB b8,
 * BBML 12:11) are from the spec and are left at the values given below.
 *
 * Invariants: registers are a pure function of the knobs; derived values come from the
 * registers as arm_smmu_device_hw_probe reads them.
 */

import { ProfileUnit, type ProfileExtras } from './profile-unit.ts';
import { Vsmmu } from './arm-vsmmu.ts';
import { domainIdsOf } from '../iotlb/unit-iotlb.ts';
import { fail, ok, type PagingDomainSpec, type UnitDevice } from './unit.ts';
import type { UnitFactory } from './unit.ts';
import { smmuStallRequest } from './page-request.ts';
import { boolKnob, enumKnob, intKnob, KnobError, knobDefaults, rangeKnob, readKnobs, setKnob } from './knobs.ts';
import { compose, extract, extractNumber, field, flag, isSet, LeBytes } from './register-fields.ts';
import {
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
  IOMMU_HW_INFO_TYPE_NONE,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  maxAddr,
  SZ_16K,
  SZ_1G,
  SZ_2M,
  SZ_32M,
  SZ_4K,
  SZ_4T,
  SZ_512M,
  SZ_64K,
  type Errno,
  type FormatConfig,
  type HwInfo,
  type PagingPlan,
  type PlanResult,
  type ReservedRegion,
  type UnitProfile,
} from './unit-profile.ts';

export const MODEL = 'arm-smmuv3';

export const IDR0 = {
  S2P: flag('S2P', 0),
  S1P: flag('S1P', 1),
  TTF: field('TTF', 3, 2),
  COHACC: flag('COHACC', 4),
  BTM: flag('BTM', 5),
  HTTU: field('HTTU', 7, 6),
  HYP: flag('HYP', 9),
  ATS: flag('ATS', 10),
  ASID16: flag('ASID16', 12),
  MSI: flag('MSI', 13),
  SEV: flag('SEV', 14),
  PRI: flag('PRI', 16),
  VMID16: flag('VMID16', 18),
  CD2L: flag('CD2L', 19),
  TTENDIAN: field('TTENDIAN', 22, 21),
  STALL_MODEL: field('STALL_MODEL', 25, 24),
  ST_LEVEL: field('ST_LEVEL', 28, 27),
} as const;

export const IDR1 = {
  SIDSIZE: field('SIDSIZE', 5, 0),
  SSIDSIZE: field('SSIDSIZE', 10, 6),
  PRIQS: field('PRIQS', 15, 11),
  EVTQS: field('EVTQS', 20, 16),
  CMDQS: field('CMDQS', 25, 21),
} as const;

export const IDR3 = {
  HAD: flag('HAD', 2),
  FWB: flag('FWB', 8),
  RIL: flag('RIL', 10),
  BBML: field('BBML', 12, 11),
} as const;

export const IDR5 = {
  OAS: field('OAS', 2, 0),
  GRAN4K: flag('GRAN4K', 4),
  GRAN16K: flag('GRAN16K', 5),
  GRAN64K: flag('GRAN64K', 6),
  VAX: field('VAX', 11, 10),
  STALL_MAX: field('STALL_MAX', 31, 16),
} as const;

export const IIDR = {
  IMPLEMENTER: field('Implementer', 11, 0),
  REVISION: field('Revision', 15, 12),
  VARIANT: field('Variant', 19, 16),
  PRODUCTID: field('ProductID', 31, 20),
} as const;

export const AIDR = {
  MINOR: field('ArchMinorRev', 3, 0),
  MAJOR: field('ArchMajorRev', 7, 4),
} as const;

/** IDR5.OAS encodings (IDR5_OAS_*_BIT). */
export const OAS_ENCODING: Record<number, number> = { 32: 0, 36: 1, 40: 2, 42: 3, 44: 4, 48: 5, 52: 6 };
const OAS_BITS = [32, 36, 40, 42, 44, 48, 52];

/** Arm Ltd JEP106 implementer code and the MMU-700 product id (IIDR). */
export const IIDR_IMPLEMENTER_ARM = 0x43b;
export const IIDR_PRODUCTID_ARM_MMU_700 = 0x487;

/** Software-managed MSI window (arm-smmu-v3.h MSI_IOVA_BASE / MSI_IOVA_LENGTH), IOMMU_RESV_SW_MSI. */
export const MSI_IOVA_BASE = 0x8000000n;
export const MSI_IOVA_LENGTH = 0x100000n;

/** STE words the user may set in a nested domain (STRTAB_STE_0/1_NESTING_ALLOWED). */
export const STE0_NESTING_ALLOWED = 0xf80fffffffffffffn; // V | CFG | S1FMT | S1CTXPTR(51:6) | S1CDMAX(63:59)
export const STE1_NESTING_ALLOWED = 0x380000ffn; // S1DSS | S1CIR | S1COR | S1CSH | S1STALLD(27) | EATS(29:28)
export const STE_CFG_ABORT = 0;
export const STE_CFG_BYPASS = 4;
export const STE_CFG_S1_TRANS = 5;

export const KNOBS = {
  stage1: boolKnob(true),
  stage2: boolKnob(true),
  /** Translation granules the unit supports (IDR5.GRAN*). */
  granules: setKnob(['4K', '16K', '64K'], ['4K', '16K', '64K'] as const, 1),
  /** Output address size in bits (IDR5.OAS). */
  oas: intKnob(48, OAS_BITS),
  /** IDR5.VAX = 1: 52-bit stage-1 input addresses. */
  vax52: boolKnob(false),
  /** IDR0.HTTU: hardware access/dirty flag updates. */
  httu: enumKnob('access+dirty', ['none', 'access', 'access+dirty'] as const),
  coherent: boolKnob(true),
  sid_bits: rangeKnob(16, 0, 32),
  ssid_bits: rangeKnob(20, 0, 20),
  ats: boolKnob(true),
  pri: boolKnob(true),
  /**
   * IDR0.STALL_MODEL: "stall" (0b00, stall and terminate), "none" (0b01, terminate only: the
   * usual PCIe-only part) or "force" (0b10, every master stalls).
   */
  stall_model: enumKnob('none', ['stall', 'none', 'force'] as const),
  range_invalidation: boolKnob(true),
  /** IDR3.BBML: break-before-make level 0, 1 or 2. */
  bbml: rangeKnob(2, 0, 2),
  /** IDR3.FWB: stage-2 forced write-back; the vIOMMU needs it (or firmware CANWBS). */
  fwb: boolKnob(true),
  /** Host CPU VA_BITS: caps the stage-1 input size (arm_smmu_domain_finalise). */
  host_va_bits: intKnob(48, [39, 42, 47, 48, 52]),
};

const STALL_MODEL_ENCODING = { stall: 0, none: 1, force: 2 } as const;

export function readSmmuKnobs(input: Record<string, unknown>) {
  const k = readKnobs(MODEL, KNOBS, input);
  if (!k.stage1 && !k.stage2) throw new KnobError(MODEL, 'stage2', 'a unit needs at least one of stage1 and stage2');
  return k;
}
export type SmmuKnobs = ReturnType<typeof readSmmuKnobs>;
export const DEFAULT_KNOBS = knobDefaults(KNOBS);

export interface SmmuRegisters {
  idr: [number, number, number, number, number, number];
  iidr: number;
  aidr: number;
}

export function encodeSmmuRegisters(k: SmmuKnobs): SmmuRegisters {
  const httu = k.httu === 'none' ? 0 : k.httu === 'access' ? 1 : 2;
  const idr0 = compose([
    [IDR0.S2P, k.stage2],
    [IDR0.S1P, k.stage1],
    [IDR0.TTF, 2], // AArch64 tables only
    [IDR0.COHACC, k.coherent],
    [IDR0.HTTU, httu],
    [IDR0.HYP, true],
    [IDR0.ATS, k.ats],
    [IDR0.ASID16, true],
    [IDR0.MSI, true],
    [IDR0.SEV, true],
    [IDR0.PRI, k.pri],
    [IDR0.VMID16, true],
    [IDR0.CD2L, true],
    [IDR0.STALL_MODEL, STALL_MODEL_ENCODING[k.stall_model]],
    [IDR0.ST_LEVEL, 1], // 2-level stream table
  ]);
  const idr1 = compose([
    [IDR1.SIDSIZE, k.sid_bits],
    [IDR1.SSIDSIZE, k.ssid_bits],
    [IDR1.PRIQS, 19],
    [IDR1.EVTQS, 19],
    [IDR1.CMDQS, 19],
  ]);
  const idr3 = compose([
    [IDR3.HAD, true],
    [IDR3.FWB, k.fwb],
    [IDR3.RIL, k.range_invalidation],
    [IDR3.BBML, k.bbml],
  ]);
  const idr5 = compose([
    [IDR5.OAS, OAS_ENCODING[k.oas]],
    [IDR5.GRAN4K, k.granules.includes('4K')],
    [IDR5.GRAN16K, k.granules.includes('16K')],
    [IDR5.GRAN64K, k.granules.includes('64K')],
    [IDR5.VAX, k.vax52 ? 1 : 0],
  ]);
  const iidr = compose([
    [IIDR.IMPLEMENTER, IIDR_IMPLEMENTER_ARM],
    [IIDR.PRODUCTID, IIDR_PRODUCTID_ARM_MMU_700],
  ]);
  const aidr = compose([[AIDR.MAJOR, 0], [AIDR.MINOR, 2]]); // SMMUv3.2
  return { idr: [Number(idr0), Number(idr1), 0, Number(idr3), 0, Number(idr5)], iidr: Number(iidr), aidr: Number(aidr) };
}

/** struct iommu_hw_info_arm_smmuv3 {u32 flags; u32 __reserved; u32 idr[6]; u32 iidr; u32 aidr} = 40 bytes. */
export function smmuHwInfoBytes(r: SmmuRegisters): Uint8Array {
  const b = new LeBytes(40).u32(0, 0).u32(4, 0);
  r.idr.forEach((v, i) => b.u32(8 + 4 * i, v));
  return b.u32(32, r.iidr).u32(36, r.aidr).bytes;
}

export interface SmmuDerived {
  s1: boolean;
  s2: boolean;
  nesting: boolean;
  coherent: boolean;
  hd: boolean;
  dbm: boolean;
  oas: number;
  ias: number;
  vax: boolean;
  granules: bigint[];
  ssidBits: number;
  fwb: boolean;
  hostVaBits: number;
  /** ARM_SMMU_FEAT_STALLS (STALL_MODEL 0b00 or 0b10) and ARM_SMMU_FEAT_STALL_FORCE (0b10). */
  stalls: boolean;
  stallForce: boolean;
}

export function deriveSmmu(r: SmmuRegisters, hostVaBits: number): SmmuDerived {
  const idr0 = BigInt(r.idr[0]);
  const idr1 = BigInt(r.idr[1]);
  const idr3 = BigInt(r.idr[3]);
  const idr5 = BigInt(r.idr[5]);
  const s1 = isSet(IDR0.S1P, idr0);
  const s2 = isSet(IDR0.S2P, idr0);
  const coherent = isSet(IDR0.COHACC, idr0);
  const hd = extractNumber(IDR0.HTTU, idr0) === 2;
  const oasEnc = extractNumber(IDR5.OAS, idr5);
  // Unknown encodings are truncated to 48 bits by the driver.
  const oas = OAS_BITS[oasEnc] ?? 48;
  const ttf = extractNumber(IDR0.TTF, idr0);
  const ias = Math.max(ttf === 3 ? 40 : 0, oas);
  const granules: bigint[] = [];
  if (isSet(IDR5.GRAN4K, idr5)) granules.push(SZ_4K);
  if (isSet(IDR5.GRAN16K, idr5)) granules.push(SZ_16K);
  if (isSet(IDR5.GRAN64K, idr5)) granules.push(SZ_64K);
  return {
    s1,
    s2,
    nesting: s1 && s2,
    coherent,
    hd,
    dbm: hd && coherent,
    oas,
    ias,
    vax: extract(IDR5.VAX, idr5) === 1n,
    granules,
    ssidBits: extractNumber(IDR1.SSIDSIZE, idr1),
    fwb: isSet(IDR3.FWB, idr3),
    hostVaBits,
    stalls: extractNumber(IDR0.STALL_MODEL, idr0) === 0 || extractNumber(IDR0.STALL_MODEL, idr0) === 2,
    stallForce: extractNumber(IDR0.STALL_MODEL, idr0) === 2,
  };
}

/**
 * master->stall_enabled (arm_smmu_probe_device): the SMMU can stall and the firmware says the
 * master can (`dma-can-stall`), or the SMMU stalls every master (STALL_FORCE). Linux then sets
 * CD.S in the master's stage-1 context descriptors and STE.S2S for stage-2 domains, so its
 * translation faults stall.
 */
export function smmuStallEnabled(d: SmmuDerived, dev: UnitDevice): boolean {
  return (d.stalls && dev.stall === true) || d.stallForce;
}

/** The granule io-pgtable-arm picks with 4 KiB CPU pages (arm_lpae_restrict_pgsizes). */
export function pickGranule(granules: bigint[]): bigint {
  if (granules.includes(SZ_4K)) return SZ_4K;
  // Nothing below PAGE_SIZE exists, so the smallest granule above it.
  return granules.reduce((a, b) => (b < a ? b : a));
}

/** io-pgtable-arm geometry for one stage: page sizes, clamped ias/oas, levels, concatenation. */
export function lpaeConfig(stage: 1 | 2, granule: bigint, ias: number, oas: number): { config: FormatConfig; pgsizeBitmap: bigint } {
  let pageSizes: bigint;
  let maxBits = 48;
  if (granule === SZ_4K) pageSizes = SZ_4K | SZ_2M | SZ_1G;
  else if (granule === SZ_16K) pageSizes = SZ_16K | SZ_32M;
  else {
    maxBits = 52;
    pageSizes = SZ_64K | SZ_512M | (oas > 48 ? SZ_4T : 0n);
  }
  const ia = Math.min(ias, maxBits);
  const oa = Math.min(oas, maxBits);
  const pgShift = granule === SZ_4K ? 12 : granule === SZ_16K ? 14 : 16;
  const bitsPerLevel = pgShift - 3;
  const vaBits = ia - pgShift;
  let levels = Math.ceil(vaBits / bitsPerLevel);
  let concat = 1;
  if (stage === 2) {
    // Start at level 1 with concatenated tables when the level-0 table would have ≤ 16 entries.
    const pgdBits = vaBits - (levels - 1) * bitsPerLevel;
    if (levels === 4 && 1 << pgdBits <= 16) {
      concat = 1 << pgdBits;
      levels -= 1;
    }
  }
  return {
    config: {
      format: stage === 1 ? 'arm-lpae-s1' : 'arm-lpae-s2',
      levels,
      granule: Number(granule),
      ias: ia,
      oas: oa,
      stage,
      ...(stage === 2 ? { concat } : {}),
    },
    pgsizeBitmap: pageSizes,
  };
}

export function planSmmuPaging(d: SmmuDerived, flags: number): PlanResult {
  const P = IOMMU_HWPT_ALLOC_PASID;
  const D = IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
  let stage: 1 | 2;
  let nestParent = false;
  let dirty = false;
  // arm_smmu_domain_alloc_paging_flags: a switch over exact flag combinations.
  switch (flags) {
    case 0:
    case P:
      stage = d.s1 ? 1 : 2;
      break;
    case IOMMU_HWPT_ALLOC_NEST_PARENT:
      if (!d.nesting) return { ok: false, errno: 'EOPNOTSUPP', why: 'no nesting (S1P and S2P)' };
      stage = 2;
      nestParent = true;
      break;
    case D:
    case D | P:
      if (!d.dbm) return { ok: false, errno: 'EOPNOTSUPP', why: 'no HTTU dirty with coherent walks' };
      stage = d.s1 ? 1 : 2;
      if (stage === 2) return { ok: false, errno: 'EOPNOTSUPP', why: 'dirty tracking needs a stage-1 table' };
      dirty = true;
      break;
    default:
      return { ok: false, errno: 'EOPNOTSUPP', why: 'unsupported flag combination' };
  }
  const granule = pickGranule(d.granules);
  const ias = stage === 1 ? Math.min(d.vax ? 52 : 48, d.hostVaBits) : d.ias;
  const oas = stage === 1 ? d.ias : d.oas;
  const { config, pgsizeBitmap } = lpaeConfig(stage, granule, ias, oas);
  if (dirty) config.hw_dirty = true;
  // arm_smmu_domain_finalise (v6.13+): a NEST_PARENT stage 2 on an SMMU with S2FWB (IDR3.FWB and
  // coherent walks) gets IO_PGTABLE_QUIRK_ARM_S2FWB, so cacheable leaves carry MemAttr 0b0110.
  if (nestParent && d.fwb && d.coherent) config.s2fwb = true;
  return {
    ok: true,
    plan: {
      unitModel: MODEL,
      config,
      pgsizeBitmap,
      aperture: { start: 0n, end: maxAddr(config.ias) },
      dirtyTracking: dirty,
      nestParent,
      pasidCapable: (flags & P) !== 0,
      attrs: {},
    },
  };
}

/** arm_smmu_validate_vste: 0 when the user STE words are acceptable, else EIO. */
export function validateNestedSte(ste0: bigint, ste1: bigint): Errno | null {
  if ((ste0 & 1n) === 0n) return null; // invalid STE: treated as abort
  if ((ste0 & ~STE0_NESTING_ALLOWED) !== 0n || (ste1 & ~STE1_NESTING_ALLOWED) !== 0n) return 'EIO';
  const cfg = Number((ste0 >> 1n) & 7n);
  if (cfg !== STE_CFG_ABORT && cfg !== STE_CFG_BYPASS && cfg !== STE_CFG_S1_TRANS) return 'EIO';
  const eats = Number((ste1 >> 28n) & 3n);
  if (eats !== 0 && eats !== 1) return 'EIO';
  return null;
}

export const SMMU_RESERVED_REGIONS: ReservedRegion[] = [
  { start: MSI_IOVA_BASE, last: MSI_IOVA_BASE + MSI_IOVA_LENGTH - 1n, kind: 'sw-msi' },
];

export function createArmSmmuV3Profile(input: Record<string, unknown>): UnitProfile & {
  derived: SmmuDerived;
  idRegisters: SmmuRegisters;
  /** A domain is bound to the SMMU instance that allocated it; another instance refuses it. */
  foreignInstanceErrno: Errno;
  checkPasidAttach(plan: PagingPlan): Errno | null;
} & Required<Pick<ProfileExtras, 'viommuSupported' | 'viommuInit' | 'iopfEnable' | 'pageRequest' | 'userPasidTable'>> {
  const k = readSmmuKnobs(input);
  const r = encodeSmmuRegisters(k);
  const d = deriveSmmu(r, k.host_va_bits);
  const bytes = smmuHwInfoBytes(r);
  // StreamIDs of the devices behind this unit, in the order first needed.
  const streamIds = new Map<string, number>();
  const registers: Record<string, bigint> = {};
  r.idr.forEach((v, i) => (registers[`IDR${i}`] = BigInt(v)));
  registers.IIDR = BigInt(r.iidr);
  registers.AIDR = BigInt(r.aidr);
  return {
    model: MODEL,
    knobs: k,
    registers,
    derived: d,
    idRegisters: r,
    hwInfo(requestedType: number): HwInfo | { errno: Errno } {
      if (requestedType !== IOMMU_HW_INFO_TYPE_NONE && requestedType !== IOMMU_HW_INFO_TYPE_ARM_SMMUV3) return { errno: 'EOPNOTSUPP' };
      return { type: IOMMU_HW_INFO_TYPE_ARM_SMMUV3, bytes: bytes.slice() };
    },
    capabilities: d.dbm ? IOMMU_HW_CAP_DIRTY_TRACKING : 0,
    maxPasidLog2: d.ssidBits,
    planPaging: (flags) => planSmmuPaging(d, flags),
    checkAttach: (plan) => (plan.unitModel === MODEL ? null : 'EINVAL'),
    reservedRegions: SMMU_RESERVED_REGIONS.map((x) => ({ ...x })),
    nestedDataTypes: d.nesting ? [IOMMU_HWPT_DATA_ARM_SMMUV3] : [],
    viommuTypes: d.nesting ? [IOMMU_VIOMMU_TYPE_ARM_SMMUV3] : [],
    nestingFormats: d.nesting ? ['arm-lpae-s1'] : [],
    // arm_smmu_get_viommu_size: FEAT_NESTING, and S2FWB so that the guest's stage-1 memory
    // attributes cannot make DMA non-coherent (the firmware CANWBS alternative is not modelled);
    // another type needs implementation ops (Tegra241 CMDQV), which this unit has not.
    viommuSupported: (type) => d.nesting && d.fwb && type === IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
    viommuInit(unit, _type, parent, core) {
      // arm_vsmmu_init: the S2 parent must belong to this very SMMU.
      if (parent.unit !== unit) return fail('EINVAL', 'S2 parent of another SMMU instance');
      // arm_vsmmu_init (v6.13 on): vsmmu->vmid = s2_parent->s2_cfg.vmid, the VMID the driver took
      // when it allocated the S2 domain: here the unit's IOTLB allocator (reference/iotlb/smmuv3.ts).
      const vmid = domainIdsOf(parent)?.vmid;
      if (vmid === undefined) throw new Error('vSMMU: the S2 parent has no VMID (a unit outside a topology has no IOTLB to allocate one)');
      const streamId = (dev: UnitDevice): number => {
        let sid = streamIds.get(dev.name);
        if (sid === undefined) streamIds.set(dev.name, (sid = streamIds.size));
        return sid;
      };
      const caps = {
        granules: d.granules.map((g) => Number(g).toString(2).length - 1),
        oasBits: d.oas,
        vax52: d.vax,
        httu: (k.httu === 'none' ? 0 : k.httu === 'access' ? 1 : 2) as 0 | 1 | 2,
        stalls: d.stalls,
      };
      return ok(new Vsmmu(unit, vmid, core, streamId, (batch) => unit.invalidationSink?.issue(batch), caps));
    },
    foreignInstanceErrno: 'EINVAL',
    // arm_smmu_s1_set_dev_pasid: only stage-1 domains go on a PASID.
    checkPasidAttach: (plan) => (plan.config.stage === 1 ? null : 'EINVAL'),
    // arm_smmu_enable_iopf (v6.16+): a master that cannot stall needs no IOPF, "so this is not a
    // failure" — the attach goes on. (v6.11–v6.15: IOMMU_DEV_FEAT_IOPF refused it with EINVAL.)
    iopfEnable: () => null,
    // arm_smmu_ops.user_pasid_table: the guest owns the CD table, so a page request with a
    // SubstreamID the host has no attachment for goes to the RID's nested domain.
    userPasidTable: true,
    // A stall-enabled master's translation faults stall whatever the device asked (`iopf` is the
    // device's PRI, which Linux does not use on SMMUv3). In a nested domain stage 1 stalls under
    // the guest's CD.S (its walk says so: `stalled`), stage 2 under the STE.S2S the host sets for
    // a stall-enabled master (arm_smmu_make_s2_domain_ste).
    pageRequest: (dev, req, how) => {
      const stalls = how.nested ? how.stalled === true || (how.faultStage === 2 && smmuStallEnabled(d, dev)) : smmuStallEnabled(d, dev);
      return stalls ? smmuStallRequest(req, how.grpid) : null;
    },
  };
}

/** The model as the core's IommuUnit (arm_smmu_s1_set_dev_pasid; nesting only through a vIOMMU). */
export const createArmSmmuV3Unit: UnitFactory = (knobs) => new ProfileUnit(createArmSmmuV3Profile(knobs), true, false);
