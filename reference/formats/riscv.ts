/**
 * RISC-V IOMMU page tables (RISC-V privileged spec §12.4–12.6 Sv39/48/57, Svnapot chapter;
 * RISC-V IOMMU spec §3 first-stage and G-stage; Linux generic_pt fmt/riscv.h): `riscv-sv`
 * (first stage, iosatp MODE 8/9/10, sign-extended 39/48/57-bit IOVA) and `riscv-svx4`
 * (G-stage, iohgatp, 41/50/59-bit zero-extended GPA, root table 16 KiB = 2048 entries,
 * 16 KiB aligned). 512 8-byte entries per table below the root; leaves at every level.
 *
 * Bits: V b0, R b1, W b2, X b3, U b4, G b5, A b6, D b7, RSW b9:8, PPN b53:10, PBMT b62:61,
 * N b63. A non-leaf is V with R=W=X=0 (gpt riscvpt_install_table: V|PPN); a leaf is
 * V|PPN|A|U, + R, + W|R|D when writable, + X unless IOMMU_NOEXEC (riscvpt_iommu_set_prot;
 * A and D are pre-set because hardware A/D updating is optional). Svnapot 64 KiB: a level-0
 * leaf with N=1 and PPN[3:0]=1000b, replicated in 16 consecutive entries.
 */

import {
  ENTRY_EMPTY,
  ENTRY_LEAF,
  ENTRY_TABLE,
  IOMMU_NOEXEC,
  IOMMU_READ,
  IOMMU_WRITE,
  PERM_R,
  PERM_W,
  PERM_X,
  checkChoice,
  checkKeys,
  checkRange,
  FormatConfigError,
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

export const RV_V = 1 << 0;
export const RV_R = 1 << 1;
export const RV_W = 1 << 2;
export const RV_X = 1 << 3;
export const RV_U = 1 << 4;
export const RV_G = 1 << 5;
export const RV_A = 1 << 6;
export const RV_D = 1 << 7;
/** N b63 in the hi half; PPN[3] (b13) marks a 64 KiB NAPOT leaf. */
export const RV_N_HI = 1 << 31;
export const RV_NAPOT_64K = 1 << 13;
/** PBMT NC b61 / IO b62 in the hi half. */
const RV_PBMT_HI = (1 << 29) | (1 << 30);

class RiscV implements PtFormat {
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
  readonly single0: Single0Test = { anyLo: RV_V, maskLo: 0, valueLo: 0, zeroHi: RV_N_HI };
  readonly dumpConfig: DumpConfig;

  constructor(
    readonly name: FormatName,
    x4: boolean,
    config: FormatConfig,
  ) {
    checkKeys(config, ['levels', 'granule', 'ias', 'oas', 'max_leaf_lg2', 'svnapot', 'sign_extend']);
    if (x4 && config.sign_extend) throw new FormatConfigError('sign_extend', 'G-stage (x4) addresses are zero-extended');
    this.levels = checkChoice('levels', config.levels ?? 4, [3, 4, 5]);
    checkChoice('granule', config.granule ?? 4096, [4096]);
    // Input bits: at most what the levels index (the hardware width); fewer narrow the
    // usable IOVA (gpt max_vasz_lg2, e.g. AMD v2 without sign extension: 47/56).
    const fullIas = 12 + 9 * this.levels + (x4 ? 2 : 0);
    const minIas = fullIas - 8;
    this.iasLg2 = config.ias === undefined ? fullIas : checkRange('ias', config.ias, minIas, fullIas);
    this.oasLg2 = checkRange('oas', config.oas ?? 56, 32, 56);
    const maxLeaf = config.max_leaf_lg2 === undefined ? 64 : checkRange('max_leaf_lg2', config.max_leaf_lg2, 12, 64);
    const g = uniformGeometry(12, 9, this.levels, x4 ? 11 : 9);
    this.indexBits = g.indexBits;
    this.itemLg2 = g.itemLg2;
    this.tableFrames = g.tableFrames;
    const napot = config.svnapot ?? false;
    this.leafSizesLg2 = this.itemLg2.map((lg2, level) => {
      const sizes = lg2 <= maxLeaf ? [lg2] : [];
      if (level === 0 && napot && maxLeaf >= 16) sizes.unshift(16);
      return sizes;
    });
    this.dumpConfig = { levels: this.levels, granule: 4096, ias: this.iasLg2, oas: this.oasLg2 };
  }

  kind(level: number, lo: number): EntryKind {
    if ((lo & RV_V) === 0) return ENTRY_EMPTY;
    if (level === 0 || (lo & (RV_R | RV_W | RV_X)) !== 0) return ENTRY_LEAF;
    return ENTRY_TABLE;
  }
  tablePfn(_level: number, lo: number, hi: number): number {
    return fieldGet(lo, hi, 10, 53);
  }
  leafOaUnit(_level: number, lo: number, hi: number): number {
    const ppn = fieldGet(lo, hi, 10, 53);
    return hi & RV_N_HI ? ppn - (ppn % 16) : ppn;
  }
  leafSizeLg2(level: number, _lo: number, hi: number): number {
    return hi & RV_N_HI ? 16 : this.itemLg2[level];
  }
  leafPerm(_level: number, lo: number): number {
    return (lo & RV_R ? PERM_R : 0) | (lo & RV_W ? PERM_W : 0) | (lo & RV_X ? PERM_X : 0);
  }
  encodeTable(_level: number, tablePfn: number, out: EntryWords): void {
    out.lo = (fieldLo(tablePfn, 10) | RV_V) >>> 0;
    out.hi = fieldHi(tablePfn, 10);
  }
  leafAttrs(prot: number, out: EntryWords): boolean {
    let lo = RV_A | RV_U;
    if (prot & IOMMU_WRITE) lo |= RV_W | RV_R | RV_D;
    if (prot & IOMMU_READ) lo |= RV_R;
    if (!(prot & IOMMU_NOEXEC)) lo |= RV_X;
    out.lo = lo;
    out.hi = 0;
    return (lo & (RV_R | RV_W | RV_X)) !== 0;
  }
  encodeLeaf(level: number, oaUnit: number, sizeLg2: number, attrLo: number, attrHi: number, out: EntryWords): void {
    const napot = sizeLg2 !== this.itemLg2[level];
    out.lo = (fieldLo(oaUnit, 10) | RV_V | attrLo | (napot ? RV_NAPOT_64K : 0)) >>> 0;
    out.hi = (fieldHi(oaUnit, 10) | attrHi | (napot ? RV_N_HI : 0)) >>> 0;
  }
  leafAttrBits(_level: number, lo: number, hi: number, out: EntryWords): void {
    out.lo = lo & (RV_R | RV_W | RV_X | RV_U | RV_G | RV_A | RV_D);
    out.hi = hi & RV_PBMT_HI;
  }
  isDirty(_level: number, lo: number): boolean {
    return (lo & RV_D) !== 0;
  }
  makeClean(_level: number, e: EntryWords): void {
    e.lo = (e.lo & ~RV_D) >>> 0;
  }
  makeDirty(_level: number, e: EntryWords): void {
    e.lo = (e.lo | RV_D) >>> 0;
  }
  markAccess(_level: number, e: EntryWords, write: boolean): void {
    e.lo = (e.lo | RV_A | (write ? RV_D : 0)) >>> 0;
  }
}

export function createRiscvSv(config: FormatConfig): PtFormat {
  return new RiscV('riscv-sv', false, config);
}

export function createRiscvSvx4(config: FormatConfig): PtFormat {
  return new RiscV('riscv-svx4', true, config);
}
