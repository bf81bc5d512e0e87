/**
 * x86-64 4/5-level paging as an IOMMU page table: Intel VT-d first stage (`vtd-fs`, VT-d spec
 * §9.7 "First-Stage Paging Entries", Intel SDM vol. 3 §4.4) and AMD v2 guest tables (`amd-v2`,
 * AMD IOMMU spec §2.2.6). Linux generic_pt fmt/x86_64.h. 512 8-byte entries per 4 KiB table;
 * leaves of 4K (PTE), 2M (PDE, PS) and 1G (PDPTE, PS; VT-d needs CAP.FS1GP → `max_leaf_lg2`).
 *
 * Bits: P b0, R/W b1, U/S b2, PWT b3, PCD b4, A b5, D b6, PS b7 (PDE/PDPTE), G b8,
 * address b51:12, XD b63. A table entry is P|RW|U|A|addr; a leaf is P|U|A|addr (+PS above
 * level 0), plus RW|D when writable — pre-dirtied, so hardware never has to set D on the first
 * write (gpt x86_64_pt_iommu_set_prot). Reads are always allowed through a present entry; XD
 * is never set by Linux. The input is canonical (sign-extended from bit 47/56 on VT-d): this
 * model takes the IOVA truncated to ias bits.
 */

import {
  ENTRY_EMPTY,
  ENTRY_LEAF,
  ENTRY_TABLE,
  IOMMU_WRITE,
  PERM_R,
  PERM_W,
  PERM_X,
  checkChoice,
  checkKeys,
  checkRange,
  fieldGet,
  fieldHi,
  fieldLo,
  uniformGeometry,
  type DumpConfig,
  type EntryKind,
  type EntryWords,
  type Single0Test,
  type FormatConfig,
  type FormatName,
  type PtFormat,
} from './format.ts';

export const X86_P = 1 << 0;
export const X86_RW = 1 << 1;
export const X86_U = 1 << 2;
export const X86_A = 1 << 5;
export const X86_D = 1 << 6;
export const X86_PS = 1 << 7;
/** XD b63, in the hi half. */
export const X86_XD_HI = 1 << 31;

class X86_64 implements PtFormat {
  readonly unitLg2 = 12;
  readonly levels: number;
  readonly indexBits: number[];
  readonly itemLg2: number[];
  readonly tableFrames: number[];
  readonly leafSizesLg2: number[][];
  readonly iasLg2: number;
  readonly oasLg2: number;
  readonly bigEndian = false;
  readonly noAccessMap = 'einval' as const;
  readonly existsErrno = 'EADDRINUSE' as const;
  readonly hasDirty = true;
  readonly single0: Single0Test = { anyLo: X86_P, maskLo: 0, valueLo: 0, zeroHi: 0 };
  readonly dumpConfig: DumpConfig;

  constructor(
    readonly name: FormatName,
    config: FormatConfig,
  ) {
    checkKeys(config, ['levels', 'granule', 'ias', 'oas', 'max_leaf_lg2', 'sign_extend']);
    this.levels = checkChoice('levels', config.levels ?? 4, [4, 5]);
    checkChoice('granule', config.granule ?? 4096, [4096]);
    // Input bits: at most what the levels index (the hardware width); fewer narrow the
    // usable IOVA (gpt max_vasz_lg2, e.g. AMD v2 without sign extension: 47/56).
    const fullIas = 12 + 9 * this.levels;
    const minIas = fullIas - 8;
    this.iasLg2 = config.ias === undefined ? fullIas : checkRange('ias', config.ias, minIas, fullIas);
    this.oasLg2 = checkRange('oas', config.oas ?? 52, 32, 52);
    const maxLeaf = checkChoice('max_leaf_lg2', config.max_leaf_lg2 ?? 30, [12, 21, 30]);
    const g = uniformGeometry(12, 9, this.levels);
    this.indexBits = g.indexBits;
    this.itemLg2 = g.itemLg2;
    this.tableFrames = g.tableFrames;
    this.leafSizesLg2 = this.itemLg2.map((lg2, level) => (level <= 2 && lg2 <= maxLeaf ? [lg2] : []));
    this.dumpConfig = { levels: this.levels, granule: 4096, ias: this.iasLg2, oas: this.oasLg2 };
  }

  kind(level: number, lo: number): EntryKind {
    if ((lo & X86_P) === 0) return ENTRY_EMPTY;
    if (level === 0 || (level <= 2 && (lo & X86_PS) !== 0)) return ENTRY_LEAF;
    return ENTRY_TABLE;
  }
  tablePfn(_level: number, lo: number, hi: number): number {
    return fieldGet(lo, hi, 12, 51);
  }
  leafOaUnit(level: number, lo: number, hi: number): number {
    const oa = fieldGet(lo, hi, 12, 51);
    if (level === 0) return oa;
    // A large leaf's bit 12 is PAT and the bits below its size are reserved: not address bits.
    const units = 2 ** (this.itemLg2[level] - 12);
    return oa - (oa % units);
  }
  leafSizeLg2(level: number): number {
    return this.itemLg2[level];
  }
  leafPerm(_level: number, lo: number, hi: number): number {
    return PERM_R | (lo & X86_RW ? PERM_W : 0) | (hi & X86_XD_HI ? 0 : PERM_X);
  }
  encodeTable(_level: number, tablePfn: number, out: EntryWords): void {
    out.lo = (fieldLo(tablePfn, 12) | X86_P | X86_RW | X86_U | X86_A) >>> 0;
    out.hi = fieldHi(tablePfn, 12);
  }
  leafAttrs(prot: number, out: EntryWords): boolean {
    out.lo = X86_U | X86_A | (prot & IOMMU_WRITE ? X86_RW | X86_D : 0);
    out.hi = 0;
    return true;
  }
  encodeLeaf(level: number, oaUnit: number, _sizeLg2: number, attrLo: number, attrHi: number, out: EntryWords): void {
    out.lo = (fieldLo(oaUnit, 12) | X86_P | attrLo | (level !== 0 ? X86_PS : 0)) >>> 0;
    out.hi = (fieldHi(oaUnit, 12) | attrHi) >>> 0;
  }
  leafAttrBits(_level: number, lo: number, hi: number, out: EntryWords): void {
    out.lo = lo & (X86_RW | X86_U | X86_A | X86_D);
    out.hi = (hi & X86_XD_HI) >>> 0;
  }
  isDirty(_level: number, lo: number): boolean {
    return (lo & X86_D) !== 0;
  }
  makeClean(_level: number, e: EntryWords): void {
    e.lo = (e.lo & ~X86_D) >>> 0;
  }
  makeDirty(_level: number, e: EntryWords): void {
    e.lo = (e.lo | X86_D) >>> 0;
  }
  markAccess(_level: number, e: EntryWords, write: boolean): void {
    e.lo = (e.lo | X86_A | (write ? X86_D : 0)) >>> 0;
  }
}

/** VT-d first stage (PGTT=1, or the stage-1 table of a nested PASID entry). */
export function createVtdFs(config: FormatConfig): PtFormat {
  return new X86_64('vtd-fs', config);
}

/** AMD v2 guest table (GCR3), same codec. */
export function createAmdV2(config: FormatConfig): PtFormat {
  return new X86_64('amd-v2', config);
}
