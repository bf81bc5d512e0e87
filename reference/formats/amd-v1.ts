/**
 * AMD-Vi v1 host page table (AMD IOMMU spec §2.2.3 "I/O Page Tables for Host Translations";
 * Linux generic_pt fmt/amdv1.h). 1–6 levels (DTE.Mode = levels) of 512 8-byte entries; the
 * level-6 table indexes IOVA bits 63:57 only (128 entries). PDE and PTE share one layout:
 * PR b0, A b5, D b6, NextLevel b11:9, address b51:12, FC b60, IR b61, IW b62.
 *
 * Leaves: NextLevel=0 is a leaf of the level's default size. NextLevel=7 is a leaf whose size
 * is written in the address: the address field's low bits hold a run of ones ending in a zero,
 * size = 2^(granule + ffz(field) + 1); such an entry is replicated in every item it covers
 * (up to 256, half a table: gpt amdv1pt_possible_sizes). Every power of two from the granule
 * up to 2^51 is a leaf size except 512 GiB (hardware bug, Linux masks SZ_512G); the top level
 * of the maximal walk (gpt PT_MAX_TOP_LEVEL) holds no leaves. A table entry is
 * PR | NextLevel=child level+1 | addr | IR | IW: IR/IW are ANDed down the walk, so the PTE
 * alone decides (gpt amdv1pt_install_table).
 *
 * Linux's AMD driver and the selftest's MOCK_IOMMUPT_AMDV1 build it with PT_FEAT_DYNAMIC_TOP
 * (start at 3 levels, add levels on top on demand; config `start_levels` overrides) and
 * PT_FEAT_AMDV1_FORCE_COHERENCE (FC b60 in every PTE: config `force_coherence`).
 *
 * The spec also lets a PDE skip levels (NextLevel < level − 1); Linux never writes one and
 * neither do we, so a PDE here always points at the next level down.
 *
 * The same code serves the iommufd selftest mock (`mock.ts`): generic_pt's AMDv1 variant with
 * AMDV1_IOMMUFD_SELFTEST — 2 KiB granule, tables still 4 KiB, 56-bit VA, 51-bit OA, top level 4.
 * There the address field (b51:12) holds OA >> 11.
 */

import {
  ENTRY_EMPTY,
  ENTRY_LEAF,
  ENTRY_TABLE,
  FormatConfigError,
  IOMMU_READ,
  IOMMU_WRITE,
  PERM_R,
  PERM_W,
  checkKeys,
  checkRange,
  fieldGet,
  fieldHi,
  fieldLo,
  framesFor,
  type DumpConfig,
  type EntryKind,
  type EntryWords,
  type Single0Test,
  type FormatConfig,
  type FormatName,
  type PtFormat,
} from './format.ts';

export const AMDV1_PR = 1 << 0;
export const AMDV1_A = 1 << 5;
export const AMDV1_D = 1 << 6;
/** In the hi half: FC b60, IR b61, IW b62. */
export const AMDV1_FC_HI = 1 << 28;
export const AMDV1_IR_HI = 1 << 29;
export const AMDV1_IW_HI = 1 << 30;
const NL_SHIFT = 9;
const NL_SIZE = 7;

export interface AmdV1Variant {
  name: FormatName;
  granuleLg2: number;
  maxVaLg2: number;
  maxOaLg2: number;
  maxTopLevel: number;
  defaultLevels: number;
  /** The table grows its top on demand from `defaultLevels` (PT_FEAT_DYNAMIC_TOP). */
  dynamicTop: boolean;
}

export const AMDV1_HOST: AmdV1Variant = { name: 'amd-v1', granuleLg2: 12, maxVaLg2: 64, maxOaLg2: 52, maxTopLevel: 5, defaultLevels: 3, dynamicTop: true };

/** Index of the lowest zero bit of a safe integer. */
function ffz(x: number): number {
  const lo = x >>> 0;
  if (lo !== 0xffffffff) {
    const inv = ~lo;
    return 31 - Math.clz32(inv & -inv);
  }
  const inv = ~(Math.floor(x / 4294967296) >>> 0);
  return 32 + 31 - Math.clz32(inv & -inv);
}

export class AmdV1 implements PtFormat {
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
  readonly existsErrno = 'EADDRINUSE' as const;
  readonly hasDirty = true;
  readonly single0: Single0Test = { anyLo: AMDV1_PR, maskLo: 7 << NL_SHIFT, valueLo: 0, zeroHi: 0 };
  readonly dumpConfig: DumpConfig;
  readonly startLevels: number;
  private readonly fc: number;
  /** Table PA (4 KiB frames) → address-field value. */
  private readonly pfnToField: number;

  constructor(
    variant: AmdV1Variant,
    config: FormatConfig,
  ) {
    checkKeys(config, ['levels', 'granule', 'ias', 'oas', 'max_leaf_lg2', 'force_coherence', ...(variant.dynamicTop ? ['start_levels'] : []), ...(variant.name === 'mock' ? ['huge'] : [])]);
    const g = variant.granuleLg2;
    this.name = variant.name;
    this.unitLg2 = g;
    this.levels = checkRange('levels', config.levels ?? variant.defaultLevels, 1, variant.maxTopLevel + 1);
    // Linux's AMD driver (amd/iommu.c) starts at starting_level 2 (3 levels) with
    // PT_FEAT_DYNAMIC_TOP and grows the top on demand up to `levels`; `start_levels` overrides.
    this.startLevels = variant.dynamicTop
      ? checkRange('start_levels', config.start_levels ?? Math.min(3, this.levels), 1, this.levels)
      : this.levels;
    if ((config.granule ?? 2 ** g) !== 2 ** g) throw new FormatConfigError('granule', `${config.granule} is not ${2 ** g}`);
    const fullIas = Math.min(variant.maxVaLg2, g + 9 * this.levels);
    this.iasLg2 = config.ias === undefined ? fullIas : checkRange('ias', config.ias, g + 9 * (this.levels - 1) + 1, fullIas);
    this.oasLg2 = checkRange('oas', config.oas ?? variant.maxOaLg2, 32, variant.maxOaLg2);
    const maxLeaf = config.max_leaf_lg2 === undefined ? 64 : checkRange('max_leaf_lg2', config.max_leaf_lg2, g, 64);
    for (let level = 0; level < this.levels; level++) {
      const item = g + 9 * level;
      this.itemLg2.push(item);
      this.indexBits.push(level === this.levels - 1 ? Math.min(9, this.iasLg2 - item) : 9);
      const sizes: number[] = [];
      if (level < variant.maxTopLevel) {
        for (let s = Math.min(51, item + 8); s >= item; s--) if (s !== 39 && s <= maxLeaf) sizes.push(s);
      }
      this.leafSizesLg2.push(sizes);
    }
    this.tableFrames = this.indexBits.map(framesFor);
    this.fc = config.force_coherence ? AMDV1_FC_HI : 0;
    this.pfnToField = 2 ** (12 - g);
    this.dumpConfig = { levels: this.levels, granule: 2 ** g, ias: this.iasLg2, oas: this.oasLg2 };
  }

  kind(level: number, lo: number, _hi: number): EntryKind {
    if ((lo & AMDV1_PR) === 0) return ENTRY_EMPTY;
    const nl = (lo >>> NL_SHIFT) & 7;
    if (level === 0 || nl === 0 || nl === NL_SIZE) return ENTRY_LEAF;
    return ENTRY_TABLE;
  }
  tablePfn(_level: number, lo: number, hi: number): number {
    return fieldGet(lo, hi, 12, 51) / this.pfnToField;
  }
  leafOaUnit(_level: number, lo: number, hi: number): number {
    const field = fieldGet(lo, hi, 12, 51);
    if (((lo >>> NL_SHIFT) & 7) !== NL_SIZE) return field;
    const m = 2 ** ffz(field);
    return field - (field % m);
  }
  leafSizeLg2(level: number, lo: number, hi: number): number {
    if (((lo >>> NL_SHIFT) & 7) !== NL_SIZE) return this.itemLg2[level];
    return this.unitLg2 + ffz(fieldGet(lo, hi, 12, 51)) + 1;
  }
  leafPerm(_level: number, _lo: number, hi: number): number {
    return (hi & AMDV1_IR_HI ? PERM_R : 0) | (hi & AMDV1_IW_HI ? PERM_W : 0);
  }
  encodeTable(level: number, tablePfn: number, out: EntryWords): void {
    const field = tablePfn * this.pfnToField;
    out.lo = (fieldLo(field, 12) | (level << NL_SHIFT) | AMDV1_PR) >>> 0;
    out.hi = (fieldHi(field, 12) | AMDV1_IR_HI | AMDV1_IW_HI) >>> 0;
  }
  leafAttrs(prot: number, out: EntryWords): boolean {
    out.lo = 0;
    out.hi = (prot & IOMMU_READ ? AMDV1_IR_HI : 0) | (prot & IOMMU_WRITE ? AMDV1_IW_HI : 0) | this.fc;
    return true;
  }
  encodeLeaf(level: number, oaUnit: number, sizeLg2: number, attrLo: number, attrHi: number, out: EntryWords): void {
    let field = oaUnit;
    let nl = 0;
    if (sizeLg2 !== this.itemLg2[level]) {
      nl = NL_SIZE;
      field += 2 ** (sizeLg2 - this.unitLg2 - 1) - 1;
    }
    out.lo = (fieldLo(field, 12) | (nl << NL_SHIFT) | AMDV1_PR | attrLo) >>> 0;
    out.hi = (fieldHi(field, 12) | attrHi) >>> 0;
  }
  leafAttrBits(_level: number, _lo: number, hi: number, out: EntryWords): void {
    out.lo = 0;
    out.hi = hi & (AMDV1_FC_HI | AMDV1_IR_HI | AMDV1_IW_HI);
  }
  isDirty(_level: number, lo: number): boolean {
    return (lo & AMDV1_D) !== 0;
  }
  makeClean(_level: number, e: EntryWords): void {
    e.lo = (e.lo & ~AMDV1_D) >>> 0;
  }
  makeDirty(_level: number, e: EntryWords): void {
    e.lo = (e.lo | AMDV1_D) >>> 0;
  }
  markAccess(_level: number, e: EntryWords, write: boolean): void {
    e.lo = (e.lo | AMDV1_A | (write ? AMDV1_D : 0)) >>> 0;
  }
}

export function createAmdV1(config: FormatConfig): PtFormat {
  return new AmdV1(AMDV1_HOST, config);
}
