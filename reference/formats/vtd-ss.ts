/**
 * Intel VT-d second-stage page table (VT-d spec §3.7 "Second-Stage Translation", §9.8
 * "Second-Stage Paging Entries"; Linux generic_pt fmt/vtdss.h). 3, 4 or 5 levels of 512
 * 8-byte entries (39/48/57-bit IOVA), 4 KiB granule, leaves of 4K (SS-PTE), 2M (SS-PDE, PS)
 * and 1G (SS-PDPTE, PS) when CAP.SLLPS allows them (`max_leaf_lg2`).
 *
 * Bits: R b0, W b1, X b2, PS b7 (PDE/PDPTE only), A b8, D b9, SNP b11, ADDR b51:12. There is
 * no present bit: an entry is present iff R or W is set (spec; Linux dma_pte_present). A table
 * entry is R|W|addr (gpt vtdss_pt_install_table); a leaf is R/W per prot, SNP when coherency
 * is forced, PS above level 0. Dirty: the hardware sets D (b9) when the PASID entry's SSADE is
 * on; the walker clears it with a plain write.
 */

import {
  ENTRY_EMPTY,
  ENTRY_LEAF,
  ENTRY_TABLE,
  IOMMU_READ,
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
  type PtFormat,
} from './format.ts';

export const VTDSS_R = 1 << 0;
export const VTDSS_W = 1 << 1;
export const VTDSS_X = 1 << 2;
export const VTDSS_PS = 1 << 7;
export const VTDSS_A = 1 << 8;
export const VTDSS_D = 1 << 9;
export const VTDSS_SNP = 1 << 11;

class VtdSs implements PtFormat {
  readonly name = 'vtd-ss' as const;
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
  readonly single0: Single0Test = { anyLo: VTDSS_R | VTDSS_W, maskLo: 0, valueLo: 0, zeroHi: 0 };
  readonly dumpConfig: DumpConfig;
  private readonly snp: number;
  private readonly forceWriteable: boolean;

  constructor(config: FormatConfig) {
    checkKeys(config, ['levels', 'granule', 'ias', 'oas', 'max_leaf_lg2', 'force_coherence', 'force_writeable']);
    this.levels = checkChoice('levels', config.levels ?? 4, [3, 4, 5]);
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
    // SS-PML4E/PML5E cannot be leaves (PS reserved there).
    this.leafSizesLg2 = this.itemLg2.map((lg2, level) => (level <= 2 && lg2 <= maxLeaf ? [lg2] : []));
    this.snp = config.force_coherence ? VTDSS_SNP : 0;
    this.forceWriteable = config.force_writeable ?? false;
    this.dumpConfig = { levels: this.levels, granule: 4096, ias: this.iasLg2, oas: this.oasLg2 };
  }

  kind(level: number, lo: number, _hi: number): EntryKind {
    if ((lo & (VTDSS_R | VTDSS_W)) === 0) return ENTRY_EMPTY;
    if (level === 0 || (level <= 2 && (lo & VTDSS_PS) !== 0)) return ENTRY_LEAF;
    return ENTRY_TABLE;
  }
  tablePfn(_level: number, lo: number, hi: number): number {
    return fieldGet(lo, hi, 12, 51);
  }
  leafOaUnit(_level: number, lo: number, hi: number): number {
    return fieldGet(lo, hi, 12, 51);
  }
  leafSizeLg2(level: number): number {
    return this.itemLg2[level];
  }
  leafPerm(_level: number, lo: number): number {
    return (lo & VTDSS_R ? PERM_R : 0) | (lo & VTDSS_W ? PERM_W : 0) | (lo & VTDSS_X ? PERM_X : 0);
  }
  encodeTable(_level: number, tablePfn: number, out: EntryWords): void {
    out.lo = (fieldLo(tablePfn, 12) | VTDSS_R | VTDSS_W) >>> 0;
    out.hi = fieldHi(tablePfn, 12);
  }
  leafAttrs(prot: number, out: EntryWords): boolean {
    if (this.forceWriteable && (prot & IOMMU_WRITE) === 0) return false;
    out.lo = (prot & IOMMU_READ ? VTDSS_R : 0) | (prot & IOMMU_WRITE ? VTDSS_W : 0) | this.snp;
    out.hi = 0;
    return true;
  }
  encodeLeaf(level: number, oaUnit: number, _sizeLg2: number, attrLo: number, attrHi: number, out: EntryWords): void {
    out.lo = (fieldLo(oaUnit, 12) | attrLo | (level !== 0 ? VTDSS_PS : 0)) >>> 0;
    out.hi = (fieldHi(oaUnit, 12) | attrHi) >>> 0;
  }
  leafAttrBits(_level: number, lo: number, _hi: number, out: EntryWords): void {
    out.lo = lo & (VTDSS_R | VTDSS_W | VTDSS_SNP);
    out.hi = 0;
  }
  isDirty(_level: number, lo: number): boolean {
    return (lo & VTDSS_D) !== 0;
  }
  makeClean(_level: number, e: EntryWords): void {
    e.lo = (e.lo & ~VTDSS_D) >>> 0;
  }
  makeDirty(_level: number, e: EntryWords): void {
    e.lo = (e.lo | VTDSS_D) >>> 0;
  }
  markAccess(_level: number, e: EntryWords, write: boolean): void {
    e.lo = (e.lo | VTDSS_A | (write ? VTDSS_D : 0)) >>> 0;
  }
}

export function createVtdSs(config: FormatConfig): PtFormat {
  return new VtdSs(config);
}
