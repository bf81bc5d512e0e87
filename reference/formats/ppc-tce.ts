/**
 * PowerPC TCE tables as PowerNV IODA2 builds them (Linux arch/powerpc/platforms/powernv/
 * pci-ioda-tce.c, arch/powerpc/include/asm/tce.h). One DMA window per table with one page size
 * (`granule` = it_page_shift: 4K, 64K, 2M, 16M, 256M or 1G), `ias` = log2 of the window size,
 * 1–5 levels (indirect tables). Entries are 64-bit BIG-endian words; the walker swaps bytes.
 *
 * Geometry (pnv_pci_ioda2_table_alloc_pages): entries_shift = ias − page_shift, split evenly
 * over the levels, each level table at least one CPU page (4 KiB here: 512 entries), and
 * (level_shift − 3)·levels + page_shift < 55. Leaf (TCE) = page PA | TCE_PCI_READ b0 |
 * TCE_PCI_WRITE b1 (pnv_tce_build adds READ to every writable TCE); an entry is valid iff R or
 * W is set; intermediate entries are
 * next-table PA | R | W. The address field is bits 51:12. There are no A/D bits.
 * IOVA units are bus page numbers; with `window` the table maps [start, start + size) and
 * indexes the page number minus start >> page_shift (Linux it_offset), else the window is at 0.
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
  checkChoice,
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
  type PtFormat,
} from './format.ts';

export const TCE_PCI_READ = 1 << 0;
export const TCE_PCI_WRITE = 1 << 1;

class PpcTce implements PtFormat {
  readonly name = 'ppc-tce' as const;
  readonly unitLg2: number;
  readonly levels: number;
  readonly indexBits: number[] = [];
  readonly itemLg2: number[] = [];
  readonly tableFrames: number[];
  readonly leafSizesLg2: number[][] = [];
  readonly iasLg2: number;
  readonly oasLg2: number;
  readonly bigEndian = true;
  readonly noAccessMap = 'einval' as const;
  readonly existsErrno = 'EADDRINUSE' as const;
  readonly hasDirty = false;
  readonly single0: Single0Test = { anyLo: TCE_PCI_READ | TCE_PCI_WRITE, maskLo: 0, valueLo: 0, zeroHi: 0 };
  readonly dumpConfig: DumpConfig;
  readonly iovaBaseUnit: number;

  constructor(config: FormatConfig) {
    checkKeys(config, ['levels', 'granule', 'ias', 'oas', 'big_endian', 'window']);
    if (config.big_endian === false) throw new FormatConfigError('big_endian', 'TCE words are always big-endian');
    const granule = checkChoice('granule', config.granule ?? 4096, [4096, 65536, 2 ** 21, 2 ** 24, 2 ** 28, 2 ** 30]);
    const p = Math.log2(granule);
    this.unitLg2 = p;
    this.levels = checkRange('levels', config.levels ?? 1, 1, 5);
    let busBits: number;
    if (config.window !== undefined) {
      // A window [start, start + size): the table indexes (bus address >> page_shift) − it_offset.
      const start = BigInt(config.window.start);
      const size = BigInt(config.window.sizeBytes);
      if (size < BigInt(granule) || (size & (size - 1n)) !== 0n || start % size !== 0n || start + size > 1n << 64n) {
        throw new FormatConfigError('window', `size 0x${size.toString(16)} must be a power of two ≥ the page, start 0x${start.toString(16)} a multiple of it`);
      }
      this.iasLg2 = size.toString(2).length - 1;
      this.iovaBaseUnit = Number(start >> BigInt(p));
      busBits = (start + size - 1n).toString(2).length;
      if (config.ias !== undefined && config.ias < busBits) throw new FormatConfigError('ias', `${config.ias} bits cannot hold the window end (${busBits} bits)`);
      busBits = config.ias ?? busBits;
    } else {
      this.iasLg2 = checkRange('ias', config.ias ?? 31, p + 1, 59);
      this.iovaBaseUnit = 0;
      busBits = this.iasLg2;
    }
    this.oasLg2 = checkRange('oas', config.oas ?? 52, 32, 52);
    const entriesShift = this.iasLg2 - p;
    const bits = Math.max(Math.ceil(entriesShift / this.levels), 9);
    if (bits * this.levels + p >= 55) {
      throw new FormatConfigError('levels', `${this.levels} levels of ${bits} bits with ${granule}-byte pages exceed the TCE limit (< 55 bits)`);
    }
    for (let level = 0; level < this.levels; level++) {
      this.itemLg2.push(p + level * bits);
      this.indexBits.push(bits);
      this.leafSizesLg2.push(level === 0 ? [p] : []);
    }
    this.tableFrames = this.indexBits.map(framesFor);
    this.dumpConfig = { levels: this.levels, granule, ias: busBits, oas: this.oasLg2, big_endian: true };
  }

  kind(level: number, lo: number): EntryKind {
    if ((lo & (TCE_PCI_READ | TCE_PCI_WRITE)) === 0) return ENTRY_EMPTY;
    return level === 0 ? ENTRY_LEAF : ENTRY_TABLE;
  }
  tablePfn(_level: number, lo: number, hi: number): number {
    return fieldGet(lo, hi, 12, 51);
  }
  leafOaUnit(_level: number, lo: number, hi: number): number {
    return fieldGet(lo, hi, 12, 51) / 2 ** (this.unitLg2 - 12);
  }
  leafSizeLg2(): number {
    return this.unitLg2;
  }
  leafPerm(_level: number, lo: number): number {
    return (lo & TCE_PCI_READ ? PERM_R : 0) | (lo & TCE_PCI_WRITE ? PERM_W : 0);
  }
  encodeTable(_level: number, tablePfn: number, out: EntryWords): void {
    out.lo = (fieldLo(tablePfn, 12) | TCE_PCI_READ | TCE_PCI_WRITE) >>> 0;
    out.hi = fieldHi(tablePfn, 12);
  }
  leafAttrs(prot: number, out: EntryWords): boolean {
    // pnv_tce_build: a writable TCE is always readable too.
    out.lo = (prot & (IOMMU_READ | IOMMU_WRITE) ? TCE_PCI_READ : 0) | (prot & IOMMU_WRITE ? TCE_PCI_WRITE : 0);
    out.hi = 0;
    return true;
  }
  encodeLeaf(_level: number, oaUnit: number, _sizeLg2: number, attrLo: number, attrHi: number, out: EntryWords): void {
    const frame = oaUnit * 2 ** (this.unitLg2 - 12);
    out.lo = (fieldLo(frame, 12) | attrLo) >>> 0;
    out.hi = (fieldHi(frame, 12) | attrHi) >>> 0;
  }
  leafAttrBits(_level: number, lo: number, _hi: number, out: EntryWords): void {
    out.lo = lo & (TCE_PCI_READ | TCE_PCI_WRITE);
    out.hi = 0;
  }
  isDirty(): boolean {
    return false;
  }
  makeClean(): void {}
  markAccess(): void {}
  makeDirty(): void {}
}

export function createPpcTce(config: FormatConfig): PtFormat {
  return new PpcTce(config);
}
