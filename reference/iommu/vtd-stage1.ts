/**
 * How an Intel VT-d unit starts the first-stage walk of a nested (PGTT = nested) PASID entry
 * that Linux programmed from a IOMMU_HWPT_DATA_VTD_S1 domain (intel_pasid_setup_nested /
 * pasid_pte_config_nested): FSPTPTR = pgtbl_addr with bits 11:0 dropped (pasid_set_flptr keeps
 * bits 63:12), FSPM = 5-level when addr_width is 57, SRE from IOMMU_VTD_S1_SRE, WPE from
 * IOMMU_VTD_S1_WPE only together with SRE, EAFE from IOMMU_VTD_S1_EAFE. The table is IA-32e
 * paging (reference/formats/x86-64.ts, `vtd-fs`).
 *
 * The rules are the VT-d specification's (§3.6 first-stage translation, §3.8 nested):
 * - the input must be canonical (bits 63:N−1 all equal, N = 48 or 57), else there is no
 *   valid translation (`not-present`, stage 1);
 * - a request without PASID is a user request (scalable mode handles it with the RID_PASID
 *   entry, privilege 0); a privileged request needs SRE = 1, else no valid translation;
 * - reserved bits (§9.7): PS in a PML5E/PML4E; PS in a PDPE without CAP.FS1GP; bits 29:13 of
 *   a 1 GiB leaf, bits 20:13 of a 2 MiB leaf → no valid translation. The address bits above
 *   the guest address width are not checked here (the output is stage 2's input, whose range
 *   check catches them); XD (bit 63) is not checked (no execute requests are modelled);
 * - access rights (§3.6.2): user reads need U/S = 1 in every entry, user writes U/S = 1 and
 *   R/W = 1 in every entry; supervisor reads are always allowed, supervisor writes need R/W = 1
 *   in every entry only when WPE = 1;
 * - A/EA/D (§3.6.3): A in every entry used (and EA when EAFE = 1), D in the leaf of a write.
 *
 * Invariant: pure functions of the domain's fields and the unit's registers.
 */

import type { PtFormat } from '../formats/format.ts';
import { createFormat } from '../formats/registry.ts';
import { X86_A, X86_D, X86_PS, X86_RW, X86_U } from '../formats/x86-64.ts';
import type { Stage1Entry, Stage1Fault, Stage1Request, Stage1Rules, Stage1Walk } from './unit.ts';

/** struct iommu_hwpt_vtd_s1 flags (uapi). */
const VTD_S1_SRE = 1n << 0n;
const VTD_S1_EAFE = 1n << 1n;
const VTD_S1_WPE = 1n << 2n;

/** The Extended-Accessed flag of a first-stage entry (bit 10), set with A when EAFE = 1. */
export const X86_EA = 1 << 10;

/** What the unit offers that the rules depend on. */
export interface VtdStage1Caps {
  /** CAP.FS1GP: 1 GiB first-stage pages. */
  fs1gp: boolean;
}

/** The PASID-entry bits Linux derives from the user data (pasid_pte_config_nested). */
export interface VtdPasidEntryBits {
  fsptptr: bigint;
  levels: 4 | 5;
  sre: boolean;
  wpe: boolean;
  eafe: boolean;
}

export function vtdPasidEntryBits(fields: Record<string, bigint>): VtdPasidEntryBits | null {
  const aw = fields.addr_width;
  if (aw !== 48n && aw !== 57n) return null;
  const sre = (fields.flags & VTD_S1_SRE) !== 0n;
  return {
    fsptptr: fields.pgtbl_addr & ~0xfffn,
    levels: aw === 57n ? 5 : 4,
    sre,
    wpe: sre && (fields.flags & VTD_S1_WPE) !== 0n,
    eafe: (fields.flags & VTD_S1_EAFE) !== 0n,
  };
}

/** §9.7 reserved bits of a present first-stage entry at generic level `level` (0 = PTE). */
export function vtdFsReserved(caps: VtdStage1Caps, level: number, lo: number): boolean {
  const ps = (lo & X86_PS) !== 0;
  if (level >= 3) return ps;
  if (level === 2 && ps) return !caps.fs1gp || (lo & 0x3fffe000) !== 0;
  if (level === 1 && ps) return (lo & 0x1fe000) !== 0;
  return false;
}

function rules(caps: VtdStage1Caps, pe: VtdPasidEntryBits, privileged: boolean): Stage1Rules {
  return {
    reserved: (level, lo) => vtdFsReserved(caps, level, lo),
    permits(path: readonly Stage1Entry[], write: boolean): boolean {
      let allUser = true;
      let allWritable = true;
      for (const e of path) {
        if (!(e.lo & X86_U)) allUser = false;
        if (!(e.lo & X86_RW)) allWritable = false;
      }
      if (!privileged) return allUser && (!write || allWritable);
      return !write || !pe.wpe || allWritable;
    },
    accessBits(path: readonly Stage1Entry[], write: boolean) {
      const a = X86_A | (pe.eafe ? X86_EA : 0);
      return path.map((_e, i) => ({ lo: i === path.length - 1 && write ? a | X86_D : a, hi: 0 }));
    },
  };
}

/** The stage-1 start of a VT-d nested domain: null when its fields cannot be attached at all. */
export function vtdStage1(caps: VtdStage1Caps, fields: Record<string, bigint>): ((req: Stage1Request) => Stage1Walk | Stage1Fault) | null {
  const pe = vtdPasidEntryBits(fields);
  if (pe === null) return null;
  const widthBits = pe.levels === 5 ? 57 : 48;
  const format: PtFormat = createFormat('vtd-fs', { levels: pe.levels, ias: widthBits, max_leaf_lg2: 30 });
  const user = rules(caps, pe, false);
  const supervisor = rules(caps, pe, true);
  const lowMask = (1n << BigInt(widthBits)) - 1n;
  const signMask = ((1n << 64n) - 1n) ^ (lowMask >> 1n);
  return (req) => {
    const upper = req.iova & signMask;
    if (upper !== 0n && upper !== signMask) return { fault: 'not-present', stage: 1 };
    const privileged = req.hasPasid && req.privileged;
    if (privileged && !pe.sre) return { fault: 'not-present', stage: 1 };
    return {
      format,
      rootIpa: pe.fsptptr,
      inputUnit: Number((req.iova & lowMask) >> 12n),
      rules: privileged ? supervisor : user,
    };
  };
}
