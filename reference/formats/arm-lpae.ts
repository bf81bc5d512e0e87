/**
 * ARM VMSAv8-64 long-descriptor tables as io-pgtable-arm builds them for the SMMU
 * (`arm-lpae-s1`, `arm-lpae-s2`): Arm ARM DDI0487 D8 "VMSAv8-64 translation table format";
 * Linux drivers/iommu/io-pgtable-arm.c. Granule 4K, 16K or 64K (unitLg2 12/14/16); each table
 * is one granule of 2^(g−3) entries; levels = ceil((ias − g)/(g − 3)); the start table holds
 * the leftover bits (pgd_bits, at least one 4 KiB frame here). Leaves Linux uses: 4K granule
 * 4K/2M/1G, 16K granule 16K/32M, 64K granule 64K/512M (+4T when oas > 48).
 *
 * Descriptor: bits 1:0 = 11 table (levels above the last) or page (last level), 01 block;
 * x0 invalid, and 01 at the last level is reserved (invalid). Output/table address bits 47:12
 * (granule-aligned); with the 64K granule PA bits 51:48 live in bits 15:12 (Linux
 * paddr_to_iopte). Leaf attributes from arm_lpae_prot_to_pte:
 * - S1: nG b11 | AP[2] b7 (read-only, when READ without WRITE; else DBM b51 with HTTU dirty)
 *   | AP[1] b6 (unprivileged, unless IOMMU_PRIV) | AttrIndx b4:2 (2 MMIO, 1 cacheable, 0 NC);
 * - S2: S2AP b7:6 (W b7, R b6) | MemAttr b5:2 (0x1 MMIO, 0xf cacheable, 0x5 NC; with `s2fwb`,
 *   IO_PGTABLE_QUIRK_ARM_S2FWB, cacheable is 0x6 "force write-back", Arm ARM D8.6.6);
 * - both: SH b9:8 = 11 inner if IOMMU_CACHE else 10 outer | XN b54:53 if NOEXEC | AF b10.
 * A table entry is addr | 11. Linux never sets the contiguous hint (b52), neither do we.
 * Stage 2 concatenates the start level into up to 16 tables (`concat`): by default when the
 * walk would start at level 0 with ≤ 16 entries (arm_64_lpae_alloc_pgtable_s2); the
 * concatenated root is `concat` contiguous granules aligned to its size.
 * HTTU dirty (S1 with `hw_dirty`): writable-clean = DBM ∧ AP[2]; hardware clears AP[2] on a
 * write; dirty = DBM ∧ ¬AP[2]; the walker cleans by setting AP[2] again.
 */

import {
  ENTRY_EMPTY,
  ENTRY_LEAF,
  ENTRY_TABLE,
  FormatConfigError,
  IOMMU_CACHE,
  IOMMU_MMIO,
  IOMMU_NOEXEC,
  IOMMU_PRIV,
  IOMMU_READ,
  IOMMU_WRITE,
  PERM_R,
  PERM_W,
  PERM_X,
  checkChoice,
  checkKeys,
  checkRange,
  framesFor,
  type DumpConfig,
  type EntryKind,
  type EntryWords,
  type Single0Test,
  type FormatConfig,
  type FormatName,
  type PtFormat,
} from './format.ts';

export const ARM_VALID = 1 << 0;
export const ARM_TYPE_TABLE = 3;
export const ARM_TYPE_PAGE = 3;
export const ARM_TYPE_BLOCK = 1;
export const ARM_NS = 1 << 5;
export const ARM_AP_UNPRIV = 1 << 6;
export const ARM_AP_RDONLY = 1 << 7;
export const ARM_HAP_READ = 1 << 6;
export const ARM_HAP_WRITE = 1 << 7;
export const ARM_SH_OS = 2 << 8;
export const ARM_SH_IS = 3 << 8;
export const ARM_AF = 1 << 10;
export const ARM_NG = 1 << 11;
/** hi half: DBM b51, XN b54:53. */
export const ARM_DBM_HI = 1 << 19;
export const ARM_XN_HI = 3 << 21;
const ARM_XN1_HI = 1 << 22;
const ATTR_LO_MASK = 0x3ff << 2;

const TWO32 = 4294967296;
const TWO48 = 2 ** 48;

class ArmLpae implements PtFormat {
  readonly name: FormatName;
  readonly unitLg2: number;
  readonly levels: number;
  readonly indexBits: number[] = [];
  readonly itemLg2: number[] = [];
  readonly tableFrames: number[];
  readonly leafSizesLg2: number[][] = [];
  readonly iasLg2: number;
  readonly oasLg2: number;
  readonly bigEndian = false;
  readonly noAccessMap = 'einval' as const;
  readonly existsErrno = 'EEXIST' as const;
  readonly hasDirty: boolean;
  readonly single0: Single0Test = { anyLo: ARM_VALID, maskLo: 3, valueLo: ARM_TYPE_PAGE, zeroHi: 0 };
  readonly dumpConfig: DumpConfig;
  readonly concat: number;
  private readonly s2: boolean;
  private readonly g64: boolean;
  private readonly hd: boolean;
  private readonly s2fwb: boolean;
  private readonly unitBytes: number;

  constructor(stage: 1 | 2, config: FormatConfig) {
    checkKeys(config, ['levels', 'granule', 'ias', 'oas', 'stage', 'concat', 'max_leaf_lg2', ...(stage === 1 ? ['hw_dirty'] : ['s2fwb'])]);
    if (config.stage !== undefined && config.stage !== stage) throw new FormatConfigError('stage', `${config.stage} is not ${stage} for this format`);
    this.name = stage === 1 ? 'arm-lpae-s1' : 'arm-lpae-s2';
    this.s2 = stage === 2;
    const granule = checkChoice('granule', config.granule ?? 4096, [4096, 16384, 65536]);
    const g = Math.log2(granule);
    this.g64 = g === 16;
    const maxBits = this.g64 ? 52 : 48;
    this.unitLg2 = g;
    this.unitBytes = 2 ** g;
    this.iasLg2 = checkRange('ias', config.ias ?? 48, g + 1, maxBits);
    this.oasLg2 = checkChoice('oas', config.oas ?? 48, [32, 36, 40, 42, 44, 48, 52].filter((b) => b <= maxBits));
    const bits = g - 3;
    const vaBits = this.iasLg2 - g;
    let levels = Math.ceil(vaBits / bits);
    let pgdBits = vaBits - bits * (levels - 1);
    // Stage-2 concatenation of the start level into the next one.
    const defaultConcat = this.s2 && levels === 4 && 2 ** pgdBits <= 16 ? 2 ** pgdBits : 1;
    const concat = config.concat ?? defaultConcat;
    if (concat !== 1) {
      if (!this.s2) throw new FormatConfigError('concat', 'concatenated root tables exist at stage 2 only');
      if (levels === 1 || concat !== 2 ** pgdBits || concat > 16) {
        throw new FormatConfigError('concat', `${concat} root tables do not fit ias ${this.iasLg2} with a ${granule}-byte granule (the start level has ${2 ** pgdBits} entries)`);
      }
      levels -= 1;
      pgdBits += bits;
    }
    this.concat = concat;
    if (config.levels !== undefined && config.levels !== levels) {
      throw new FormatConfigError('levels', `${config.levels} does not match ias ${this.iasLg2}, granule ${granule}, concat ${concat} (${levels})`);
    }
    this.levels = levels;
    const linuxSizes = g === 12 ? [12, 21, 30] : g === 14 ? [14, 25] : this.oasLg2 > 48 ? [16, 29, 42] : [16, 29];
    const maxLeaf = config.max_leaf_lg2 === undefined ? 64 : checkRange('max_leaf_lg2', config.max_leaf_lg2, g, 64);
    for (let level = 0; level < levels; level++) {
      const item = g + level * bits;
      this.itemLg2.push(item);
      this.indexBits.push(level === levels - 1 ? pgdBits : bits);
      this.leafSizesLg2.push(linuxSizes.includes(item) && item <= maxLeaf ? [item] : []);
    }
    this.tableFrames = this.indexBits.map(framesFor);
    this.hd = stage === 1 && (config.hw_dirty ?? false);
    this.hasDirty = this.hd;
    this.s2fwb = stage === 2 && (config.s2fwb ?? false);
    this.dumpConfig = { levels, granule, ias: this.iasLg2, oas: this.oasLg2, stage, ...(this.s2 ? { concat } : {}), ...(this.hd ? { hd: true } : {}) };
  }

  kind(level: number, lo: number): EntryKind {
    const type = lo & 3;
    if ((type & ARM_VALID) === 0) return ENTRY_EMPTY;
    if (level === 0) return type === ARM_TYPE_PAGE ? ENTRY_LEAF : ENTRY_EMPTY;
    return type === ARM_TYPE_TABLE ? ENTRY_TABLE : ENTRY_LEAF;
  }
  /** Physical address (bytes) held in a descriptor, unpacking 51:48 from 15:12 with 64K. */
  private pa(lo: number, hi: number): number {
    if (this.g64) return ((lo & 0xffff0000) >>> 0) + (hi & 0xffff) * TWO32 + ((lo >>> 12) & 0xf) * TWO48;
    return ((lo & 0xfffff000) >>> 0) + (hi & 0xffff) * TWO32;
  }
  tablePfn(_level: number, lo: number, hi: number): number {
    return this.pa(lo, hi) / 4096;
  }
  leafOaUnit(_level: number, lo: number, hi: number): number {
    return this.pa(lo, hi) / this.unitBytes;
  }
  leafSizeLg2(level: number): number {
    return this.itemLg2[level];
  }
  leafPerm(_level: number, lo: number, hi: number): number {
    const x = hi & ARM_XN1_HI ? 0 : PERM_X;
    if (this.s2) return (lo & ARM_HAP_READ ? PERM_R : 0) | (lo & ARM_HAP_WRITE ? PERM_W : 0) | x;
    // With hardware dirty update (CD.HD), DBM makes a clean (AP[2]=1) page writable: the write
    // clears AP[2] instead of faulting — that is how the next write is recorded as dirty.
    const writable = (lo & ARM_AP_RDONLY) === 0 || (this.hd && (hi & ARM_DBM_HI) !== 0);
    return PERM_R | (writable ? PERM_W : 0) | x;
  }
  private encodeAddr(paBytes: number, out: EntryWords): void {
    const hi = (paBytes / TWO32) >>> 0; // < 2^20: the truncation is the floor
    let lo = paBytes >>> 0;
    if (this.g64) lo = ((lo & 0xffff0000) | (((hi >>> 16) & 0xf) << 12)) >>> 0;
    out.lo = lo;
    out.hi = hi & 0xffff;
  }
  encodeTable(_level: number, tablePfn: number, out: EntryWords): void {
    this.encodeAddr(tablePfn * 4096, out);
    out.lo = (out.lo | ARM_TYPE_TABLE) >>> 0;
  }
  leafAttrs(prot: number, out: EntryWords): boolean {
    let lo = 0;
    let hi = 0;
    if (!this.s2) {
      lo |= ARM_NG;
      if (!(prot & IOMMU_WRITE) && prot & IOMMU_READ) lo |= ARM_AP_RDONLY;
      else if (this.hd) hi |= ARM_DBM_HI;
      if (!(prot & IOMMU_PRIV)) lo |= ARM_AP_UNPRIV;
      if (prot & IOMMU_MMIO) lo |= 2 << 2;
      else if (prot & IOMMU_CACHE) lo |= 1 << 2;
    } else {
      if (prot & IOMMU_READ) lo |= ARM_HAP_READ;
      if (prot & IOMMU_WRITE) lo |= ARM_HAP_WRITE;
      if (prot & IOMMU_MMIO) lo |= 0x1 << 2;
      else if (prot & IOMMU_CACHE) lo |= (this.s2fwb ? 0x6 : 0xf) << 2;
      else lo |= 0x5 << 2;
    }
    lo |= prot & IOMMU_CACHE ? ARM_SH_IS : ARM_SH_OS;
    if (prot & IOMMU_NOEXEC) hi |= ARM_XN_HI;
    lo |= ARM_AF;
    out.lo = lo;
    out.hi = hi;
    return true;
  }
  encodeLeaf(level: number, oaUnit: number, _sizeLg2: number, attrLo: number, attrHi: number, out: EntryWords): void {
    this.encodeAddr(oaUnit * this.unitBytes, out);
    out.lo = (out.lo | attrLo | (level === 0 ? ARM_TYPE_PAGE : ARM_TYPE_BLOCK)) >>> 0;
    out.hi = (out.hi | attrHi) >>> 0;
  }
  leafAttrBits(_level: number, lo: number, hi: number, out: EntryWords): void {
    out.lo = lo & ATTR_LO_MASK;
    out.hi = (hi & (ARM_XN_HI | ARM_DBM_HI)) >>> 0;
  }
  isDirty(_level: number, lo: number, hi: number): boolean {
    return (hi & ARM_DBM_HI) !== 0 && (lo & ARM_AP_RDONLY) === 0;
  }
  makeClean(_level: number, e: EntryWords): void {
    if (e.hi & ARM_DBM_HI) e.lo = (e.lo | ARM_AP_RDONLY) >>> 0;
  }
  makeDirty(_level: number, e: EntryWords): void {
    if (!this.s2 && e.hi & ARM_DBM_HI) e.lo = (e.lo & ~ARM_AP_RDONLY) >>> 0;
  }
  markAccess(_level: number, e: EntryWords, write: boolean): void {
    e.lo = (e.lo | ARM_AF) >>> 0;
    if (write && !this.s2 && e.hi & ARM_DBM_HI) e.lo = (e.lo & ~ARM_AP_RDONLY) >>> 0;
  }
}

export function createArmLpaeS1(config: FormatConfig): PtFormat {
  return new ArmLpae(1, config);
}

export function createArmLpaeS2(config: FormatConfig): PtFormat {
  return new ArmLpae(2, config);
}
