/**
 * RISC-V IOMMU (model "riscv-iommu"): a unit implementing the ratified RISC-V IOMMU spec 1.0,
 * built from knobs into its `capabilities` register (offset 0x0000), and what Linux's riscv
 * iommu driver derives from it for iommufd: a first-stage Sv39/Sv48/Sv57 paging domain (the
 * widest mode the unit has), its page sizes and canonical aperture, and attach compatibility.
 *
 * Linux's driver has no hw_info op (GET_HW_INFO → type NONE), no dirty tracking, no PASID
 * support (max_pasids unset → out_max_pasid_log2 0), no nesting and no reserved regions; it
 * allocates paging domains through domain_alloc_paging, so any allocation flag is EOPNOTSUPP.
 * The G-stage (Sv*x4) capability bits are still modelled because a conformance case may read
 * them back through a dump, and nesting support may follow.
 *
 * Field positions: drivers/iommu/riscv/iommu-bits.h RISCV_IOMMU_CAPABILITIES_* (= spec §5.3).
 *
 * Invariants: the register is a pure function of the knobs; derived values come from it.
 */

import { ProfileUnit } from './profile-unit.ts';
import type { UnitFactory } from './unit.ts';
import { boolKnob, enumKnob, intKnob, knobDefaults, readKnobs } from './knobs.ts';
import { compose, extractNumber, field, flag, isSet } from './register-fields.ts';
import {
  hwInfoNone,
  maxAddr,
  SZ_1G,
  SZ_2M,
  SZ_4K,
  SZ_512G,
  type Errno,
  type PagingPlan,
  type PlanResult,
  type UnitProfile,
} from './unit-profile.ts';

export const MODEL = 'riscv-iommu';

export const CAPS = {
  VERSION: field('version', 7, 0),
  SV32: flag('Sv32', 8),
  SV39: flag('Sv39', 9),
  SV48: flag('Sv48', 10),
  SV57: flag('Sv57', 11),
  SVPBMT: flag('Svpbmt', 15),
  SV32X4: flag('Sv32x4', 16),
  SV39X4: flag('Sv39x4', 17),
  SV48X4: flag('Sv48x4', 18),
  SV57X4: flag('Sv57x4', 19),
  AMO_MRIF: flag('AMO_MRIF', 21),
  MSI_FLAT: flag('MSI_FLAT', 22),
  MSI_MRIF: flag('MSI_MRIF', 23),
  AMO_HWAD: flag('AMO_HWAD', 24),
  ATS: flag('ATS', 25),
  T2GPA: flag('T2GPA', 26),
  END: flag('END', 27),
  IGS: field('IGS', 29, 28),
  HPM: flag('HPM', 30),
  DBG: flag('DBG', 31),
  PAS: field('PAS', 37, 32),
  PD8: flag('PD8', 38),
  PD17: flag('PD17', 39),
  PD20: flag('PD20', 40),
} as const;

/** iosatp/iohgatp MODE values (riscv_iommu_dc_fsc_atp_modes). */
export const IOSATP_MODE = { sv39: 8, sv48: 9, sv57: 10 } as const;

export const KNOBS = {
  /** Widest first-stage mode: 3 = Sv39, 4 = Sv39+Sv48, 5 = Sv39+Sv48+Sv57. */
  sv_levels: intKnob(4, [3, 4, 5]),
  /** Widest G-stage mode (0 = none): 3 = Sv39x4, 4 = +Sv48x4, 5 = +Sv57x4. */
  svx4_levels: intKnob(4, [0, 3, 4, 5]),
  /** Physical address size (capabilities.PAS). */
  pas: intKnob(56, [34, 40, 44, 48, 52, 56]),
  /** Process-id widths the PDT supports: 20 → PD8+PD17+PD20, 17 → PD8+PD17, 8 → PD8, 0 → none. */
  pasid_bits: intKnob(20, [0, 8, 17, 20]),
  msi: enumKnob('flat', ['none', 'flat', 'mrif'] as const),
  /** Hardware A/D updates (AMO_HWAD). */
  amo_hwad: boolKnob(true),
  ats: boolKnob(true),
  svpbmt: boolKnob(true),
  /** Interrupt generation: "msi", "wsi" or "both" (IGS 0/1/2). */
  igs: enumKnob('msi', ['msi', 'wsi', 'both'] as const),
  hpm: boolKnob(true),
};

export function readRiscvKnobs(input: Record<string, unknown>) {
  return readKnobs(MODEL, KNOBS, input);
}
export type RiscvKnobs = ReturnType<typeof readRiscvKnobs>;
export const DEFAULT_KNOBS = knobDefaults(KNOBS);

export function encodeCapabilities(k: RiscvKnobs): bigint {
  return compose([
    [CAPS.VERSION, 0x10], // major 1, minor 0
    [CAPS.SV39, true],
    [CAPS.SV48, k.sv_levels >= 4],
    [CAPS.SV57, k.sv_levels >= 5],
    [CAPS.SVPBMT, k.svpbmt],
    [CAPS.SV39X4, k.svx4_levels >= 3],
    [CAPS.SV48X4, k.svx4_levels >= 4],
    [CAPS.SV57X4, k.svx4_levels >= 5],
    [CAPS.AMO_MRIF, k.msi === 'mrif'],
    [CAPS.MSI_FLAT, k.msi !== 'none'],
    [CAPS.MSI_MRIF, k.msi === 'mrif'],
    [CAPS.AMO_HWAD, k.amo_hwad],
    [CAPS.ATS, k.ats],
    [CAPS.IGS, k.igs === 'msi' ? 0 : k.igs === 'wsi' ? 1 : 2],
    [CAPS.HPM, k.hpm],
    [CAPS.PAS, k.pas],
    [CAPS.PD8, k.pasid_bits >= 8],
    [CAPS.PD17, k.pasid_bits >= 17],
    [CAPS.PD20, k.pasid_bits >= 20],
  ]);
}

export interface RiscvDerived {
  /** The first-stage mode Linux picks: widest of Sv57, Sv48, Sv39 (0 = none). */
  vaBits: number;
  modes: number[];
  pas: number;
}

export function deriveRiscv(caps: bigint): RiscvDerived {
  const modes: number[] = [];
  if (isSet(CAPS.SV39, caps)) modes.push(39);
  if (isSet(CAPS.SV48, caps)) modes.push(48);
  if (isSet(CAPS.SV57, caps)) modes.push(57);
  return { vaBits: modes.length ? Math.max(...modes) : 0, modes, pas: extractNumber(CAPS.PAS, caps) };
}

export function planRiscvPaging(d: RiscvDerived, flags: number): PlanResult {
  // domain_alloc_paging takes no flags: iommufd gets EOPNOTSUPP for any.
  if (flags !== 0) return { ok: false, errno: 'EOPNOTSUPP', why: 'the driver allocates paging domains without flags' };
  if (d.vaBits === 0) return { ok: false, errno: 'ENODEV', why: 'no first-stage mode' };
  const levels = (d.vaBits - 12) / 9;
  return {
    ok: true,
    plan: {
      unitModel: MODEL,
      config: { format: 'riscv-sv', levels, granule: 4096, ias: d.vaBits, oas: d.pas },
      // va_mask = DMA_BIT_MASK(va_bits − 1) (the driver keeps out of the sign-extended half);
      // pgsize_bitmap = va_mask & (4K | 2M | 1G | 512G): 512G needs Sv48 or wider.
      pgsizeBitmap: maxAddr(d.vaBits - 1) & (SZ_4K | SZ_2M | SZ_1G | SZ_512G),
      aperture: { start: 0n, end: maxAddr(d.vaBits - 1) },
      dirtyTracking: false,
      nestParent: false,
      pasidCapable: false,
      attrs: {},
    },
  };
}

/** riscv_iommu_attach_paging_domain: the unit must support the domain's mode, else ENODEV. */
export function checkRiscvAttach(d: RiscvDerived, plan: PagingPlan): Errno | null {
  if (plan.unitModel !== MODEL) return 'EINVAL';
  return d.modes.includes(plan.config.ias) ? null : 'ENODEV';
}

export function createRiscvIommuProfile(input: Record<string, unknown>): UnitProfile & { derived: RiscvDerived } {
  const k = readRiscvKnobs(input);
  const caps = encodeCapabilities(k);
  const d = deriveRiscv(caps);
  return {
    model: MODEL,
    knobs: k,
    registers: { capabilities: caps },
    derived: d,
    hwInfo: hwInfoNone,
    capabilities: 0,
    maxPasidLog2: 0,
    planPaging: (flags) => planRiscvPaging(d, flags),
    checkAttach: (plan) => checkRiscvAttach(d, plan),
    foreignInstanceErrno: null,
    reservedRegions: [],
    nestedDataTypes: [],
    viommuTypes: [],
    nestingFormats: [],
  };
}

/** The model as the core's IommuUnit (no PASID, no nesting in the Linux driver). */
export const createRiscvIommuUnit: UnitFactory = (knobs) => new ProfileUnit(createRiscvIommuProfile(knobs), false, false);
