/**
 * PowerPC TCE (model "ppc-tce"): a PowerNV PHB (IODA2/PHB4-style) whose DMA translation is a
 * TCE table per DMA window — one fixed TCE page size per table, 1–5 indirect levels, big-endian
 * 64-bit entries — and what Linux offers iommufd on it.
 *
 * Upstream Linux (arch/powerpc/kernel/iommu.c, spapr_tce_iommu_ops) registers only a platform
 * default domain and a blocked domain: there is no paging-domain allocation op, so an iommufd
 * HWPT_ALLOC / IOAS attach is EOPNOTSUPP, GET_HW_INFO is type NONE, and there are no dirty,
 * PASID or nesting capabilities. That faithful behaviour is the default. The knob
 * `paging: true` turns on a reference-only TCE paging domain (the shape of a posted RFC:
 * one window created with create_table(bus offset, page shift, window size, levels)) so that
 * the ppc-tce format can be exercised; cases using it must say it is not Linux behaviour.
 *
 * Invariants: the window is naturally aligned to its size and a whole number of TCE pages;
 * the table geometry follows pnv_pci_ioda2_table_alloc_pages (levels split the index evenly).
 */

import { ProfileUnit } from './profile-unit.ts';
import type { UnitFactory } from './unit.ts';
import { boolKnob, intKnob, KnobError, knobDefaults, readKnobs, type KnobSpec } from './knobs.ts';
import { hwInfoNone, type Errno, type PagingPlan, type PlanResult, type UnitProfile } from './unit-profile.ts';

export const MODEL = 'ppc-tce';

/** 64-bit DMA window bus address on PowerNV (the DDW window starts at 1 << 59). */
export const DDW_WINDOW_START = 1n << 59n;

const u64StringKnob = (defaultValue: string, what: string): KnobSpec<string> => ({
  default: defaultValue,
  check: (v) => {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return null;
    if (typeof v === 'string' && /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(v)) return null;
    return `must be ${what} (a JSON number or a "0x…" string)`;
  },
});

export const KNOBS = {
  /** Offer a (reference-only) TCE paging domain; false = upstream Linux: EOPNOTSUPP. */
  paging: boolKnob(false),
  /** TCE page size as a shift: 4K, 64K, 2M, 16M, 256M, 1G (firmware "ibm,supported-tce-sizes"). */
  page_shift: intKnob(12, [12, 16, 21, 24, 28, 30]),
  /** Window bus address: 0 (32-bit default window) or 1 << 59 (64-bit DDW window). */
  window_start: u64StringKnob('0', 'the window bus address'),
  /** Window size in bytes, a power of two. */
  window_size: u64StringKnob('0x40000000', 'the window size in bytes'),
  /** TCE table levels (POWERNV_IOMMU_MAX_LEVELS = 5). */
  levels: intKnob(1, [1, 2, 3, 4, 5]),
};

export function readPpcKnobs(input: Record<string, unknown>) {
  const k = readKnobs(MODEL, KNOBS, input);
  const start = BigInt(k.window_start);
  const size = BigInt(k.window_size);
  const pageBytes = 1n << BigInt(k.page_shift);
  if (size < pageBytes || (size & (size - 1n)) !== 0n) {
    throw new KnobError(MODEL, 'window_size', 'must be a power of two of at least one TCE page');
  }
  if (start !== 0n && start !== DDW_WINDOW_START) {
    throw new KnobError(MODEL, 'window_start', 'must be 0 or 0x800000000000000 (1 << 59)');
  }
  if (start + size > 1n << 60n) throw new KnobError(MODEL, 'window_size', 'the window must end below 2^60');
  // pnv_pci_ioda2_table_alloc_pages: the index bits are split evenly over the levels, each level
  // table at least one 4 KiB page (9 bits), and (level bits)·levels + page_shift must stay below 55.
  const entriesShift = Number(size.toString(2).length - 1) - k.page_shift;
  if (entriesShift < k.levels) throw new KnobError(MODEL, 'levels', `a ${entriesShift}-bit TCE index cannot be split into ${k.levels} levels`);
  const levelBits = Math.max(Math.ceil(entriesShift / k.levels), 9);
  if (levelBits * k.levels + k.page_shift >= 55) {
    throw new KnobError(MODEL, 'levels', `${k.levels} levels of ${levelBits} index bits with ${2 ** k.page_shift}-byte TCEs reach the 55-bit limit of pnv_pci_ioda2_table_alloc_pages`);
  }
  return { ...k, start, size };
}
export type PpcKnobs = ReturnType<typeof readPpcKnobs>;
export const DEFAULT_KNOBS = knobDefaults(KNOBS);

export function planPpcPaging(k: PpcKnobs, flags: number): PlanResult {
  if (!k.paging) return { ok: false, errno: 'EOPNOTSUPP', why: 'spapr_tce_iommu_ops has no paging-domain allocation' };
  if (flags !== 0) return { ok: false, errno: 'EOPNOTSUPP', why: 'no allocation flags' };
  const end = k.start + k.size - 1n;
  return {
    ok: true,
    plan: {
      unitModel: MODEL,
      config: {
        format: 'ppc-tce',
        levels: k.levels,
        granule: 2 ** k.page_shift,
        ias: k.size.toString(2).length - 1,
        oas: 52,
        big_endian: true,
        window: { start: k.start, sizeBytes: k.size },
      },
      pgsizeBitmap: 1n << BigInt(k.page_shift),
      aperture: { start: k.start, end },
      dirtyTracking: false,
      nestParent: false,
      pasidCapable: false,
      attrs: { pageShift: k.page_shift },
    },
  };
}

export function checkPpcAttach(k: PpcKnobs, plan: PagingPlan): Errno | null {
  if (plan.unitModel !== MODEL || !k.paging) return 'EINVAL';
  return null;
}

export function createPpcTceProfile(input: Record<string, unknown>): UnitProfile {
  const k = readPpcKnobs(input);
  return {
    model: MODEL,
    knobs: { paging: k.paging, page_shift: k.page_shift, window_start: k.window_start, window_size: k.window_size, levels: k.levels },
    registers: {},
    hwInfo: hwInfoNone,
    capabilities: 0,
    maxPasidLog2: 0,
    planPaging: (flags) => planPpcPaging(k, flags),
    checkAttach: (plan) => checkPpcAttach(k, plan),
    foreignInstanceErrno: null,
    reservedRegions: [],
    nestedDataTypes: [],
    viommuTypes: [],
    nestingFormats: [],
  };
}

/** The model as the core's IommuUnit (no PASID, no nesting). */
export const createPpcTceUnit: UnitFactory = (knobs) => new ProfileUnit(createPpcTceProfile(knobs), false, false);
