/**
 * The one plug-in interface of an I/O page-table format, after Linux's generic page table
 * (drivers/iommu/generic_pt/pt_common.h): a format is geometry plus pure codecs for ONE entry;
 * it never walks. The shared walker (`page-table.ts`) does every algorithm once on top of it.
 *
 * Conventions every format keeps:
 * - Levels are numbered as in generic_pt: 0 is the leaf table (smallest pages), `levels − 1`
 *   the root. An "item" at level L covers 2^itemLg2[L] bytes of IOVA.
 * - Addresses cross this interface as page numbers in units of 2^unitLg2 bytes (the format's
 *   smallest page): `oaUnit` for output addresses. Table addresses cross as 4 KiB frame numbers
 *   of PhysicalMemory (`tablePfn`). Everything stays a safe JS number.
 * - Descriptors are 64-bit words handled as two 32-bit halves (lo = bits 31:0, hi = 63:32) in
 *   the format's LOGICAL order; a big-endian format only says so (`bigEndian`), the walker swaps
 *   bytes when it touches memory. Codecs return numbers or fill a caller-owned `EntryWords`
 *   scratch object, so the hot path allocates nothing and never uses BigInt.
 * - A contiguous leaf (AMD NextLevel=7, RISC-V Svnapot) is one descriptor value replicated in
 *   every item it covers; `encodeLeaf` gives that value and the walker replicates it.
 */

/** Format names as the adapter protocol's PGTABLE_DUMP spells them. */
export type FormatName =
  | 'vtd-ss'
  | 'vtd-fs'
  | 'amd-v1'
  | 'amd-v2'
  | 'arm-lpae-s1'
  | 'arm-lpae-s2'
  | 'riscv-sv'
  | 'riscv-svx4'
  | 'ppc-tce'
  | 'mock';

/** Linux `IOMMU_*` prot flags (include/linux/iommu.h), the input of `leafAttrs`. */
export const IOMMU_READ = 1 << 0;
export const IOMMU_WRITE = 1 << 1;
export const IOMMU_CACHE = 1 << 2;
export const IOMMU_NOEXEC = 1 << 3;
export const IOMMU_MMIO = 1 << 4;
export const IOMMU_PRIV = 1 << 5;

/** Decoded permission of a leaf (what a DMA may do through it). */
export const PERM_R = 1;
export const PERM_W = 2;
export const PERM_X = 4;

export const ENTRY_EMPTY = 0;
export const ENTRY_TABLE = 1;
export const ENTRY_LEAF = 2;
export type EntryKind = typeof ENTRY_EMPTY | typeof ENTRY_TABLE | typeof ENTRY_LEAF;

export interface Single0Test {
  anyLo: number;
  maskLo: number;
  valueLo: number;
  zeroHi: number;
}

/** Caller-owned scratch for one descriptor (logical halves). */
export interface EntryWords {
  lo: number;
  hi: number;
}

/**
 * The configuration object (PGTABLE_DUMP `config` keys plus a few format knobs). Every key is
 * optional: a format fills defaults of a common current part and rejects what it cannot do.
 */
export interface FormatConfig {
  /** Number of levels of the walk (ARM: counted from the start level, concatenation aside). */
  levels?: number;
  /** Granule (smallest page, and ARM table size) in bytes. */
  granule?: number;
  /** Input (IOVA) address bits. */
  ias?: number;
  /** Output address bits. */
  oas?: number;
  /** ARM stage 1 or 2 (derived from the format name; given only to be checked). */
  stage?: 1 | 2;
  /** ARM stage 2: number of concatenated root tables (1 = none). */
  concat?: number;
  /** PPC TCE: words are big-endian (always true for TCE, false elsewhere). */
  big_endian?: boolean;
  /** Largest leaf a map may use, log2 bytes, on top of the format's own limits (VT-d CAP.SLLPS, FS1GP). */
  max_leaf_lg2?: number;
  /** ARM stage 1: hardware dirty tracking (DBM) on writable leaves (IO_PGTABLE_QUIRK_ARM_HD). */
  hw_dirty?: boolean;
  /** ARM stage 2: the SMMU forces write-back (IO_PGTABLE_QUIRK_ARM_S2FWB), cacheable MemAttr 0b0110. */
  s2fwb?: boolean;
  /** Snoop/force-coherent leaves (VT-d SNP, AMD FC; Linux PT_FEAT_*_FORCE_COHERENCE). */
  force_coherence?: boolean;
  /** RISC-V: Svnapot 64 KiB contiguous leaves (gpt PT_FEAT_RISCV_SVNAPOT_64K). */
  svnapot?: boolean;
  /** x86-64 / RISC-V first stage: the IOVA is sign-extended (informational: IOVAs are taken truncated to ias bits). */
  sign_extend?: boolean;
  /** mock: the domain allows the 1 MiB huge page (informational: the pgsize list passed to map decides). */
  huge?: boolean;
  /** PPC TCE: the DMA window (bus addresses); IOVA units are then bus page numbers inside it. */
  window?: { start: bigint | number; sizeBytes: bigint | number };
  /** Levels a dynamic-top table starts with (AMD v1: Linux starts at 3 and grows). */
  start_levels?: number;
  /** VT-d SS nesting parent on ERRATA_772415_SPR17 parts: read-only maps are refused (EINVAL). */
  force_writeable?: boolean;
}

/** The dump `config`: what a hardware walker needs (adapter-protocol.md PGTABLE_DUMP). */
export interface DumpConfig {
  levels: number;
  granule: number;
  ias: number;
  oas: number;
  stage?: 1 | 2;
  concat?: number;
  big_endian?: boolean;
  /** ARM stage 1: hardware dirty-state update (CD.HD) is on, so DBM makes AP[2] pages writable-clean. */
  hd?: boolean;
}

export class FormatConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`page-table config '${key}': ${message}`);
    this.name = 'FormatConfigError';
  }
}

/** What a configured format instance provides. Arrays are indexed by level (0 = leaf table). */
export interface PtFormat {
  readonly name: FormatName;
  /** log2 of the unit of `oaUnit` / IOVA page numbers (the smallest page). */
  readonly unitLg2: number;
  readonly levels: number;
  /** Index bits of a table at each level (the root may differ: AMD level 6, RISC-V x4, ARM concat). */
  readonly indexBits: readonly number[];
  /** Bytes of IOVA covered by one item at each level, log2. */
  readonly itemLg2: readonly number[];
  /** 4 KiB frames a table of each level occupies (allocated contiguous and aligned to their count). */
  readonly tableFrames: readonly number[];
  /** Leaf sizes (log2 bytes) each level may hold, largest first; empty: tables only. */
  readonly leafSizesLg2: readonly (readonly number[])[];
  readonly iasLg2: number;
  readonly oasLg2: number;
  readonly bigEndian: boolean;
  /** What map does with a prot that has neither READ nor WRITE: EINVAL (VT-d, AMD) or map nothing (io-pgtable-arm). */
  readonly noAccessMap: 'einval' | 'skip';
  /** Errno of a map over an existing leaf: EADDRINUSE (generic_pt), EEXIST (io-pgtable-arm). */
  readonly existsErrno: 'EADDRINUSE' | 'EEXIST';
  /** The format has a dirty bit a walker can read and clear. */
  readonly hasDirty: boolean;
  /**
   * Data-only test for "a one-item leaf at level 0" so the walker's bulk loops need no call
   * per entry: (lo & anyLo) ≠ 0 ∧ (lo & maskLo) = valueLo ∧ (hi & zeroHi) = 0. Entries that
   * fail it take the general path (kind/leafSizeLg2), so the test may be conservative.
   */
  readonly single0: Single0Test;
  readonly dumpConfig: DumpConfig;
  /** Levels a table of this format starts with when it grows its top on demand (else all). */
  readonly startLevels?: number;
  /** First IOVA unit the table maps (PPC TCE window offset, it_offset); 0 when absent. */
  readonly iovaBaseUnit?: number;

  kind(level: number, lo: number, hi: number): EntryKind;
  tablePfn(level: number, lo: number, hi: number): number;
  /** OA (units) of the start of the leaf, for a contiguous leaf the start of the whole run. */
  leafOaUnit(level: number, lo: number, hi: number): number;
  leafSizeLg2(level: number, lo: number, hi: number): number;
  leafPerm(level: number, lo: number, hi: number): number;
  encodeTable(level: number, tablePfn: number, out: EntryWords): void;
  /**
   * Attribute bits for a leaf from Linux prot flags, into `out` (independent of level and
   * address). Returns false if the format cannot express the prot (caller maps it to EINVAL).
   */
  leafAttrs(prot: number, out: EntryWords): boolean;
  encodeLeaf(level: number, oaUnit: number, sizeLg2: number, attrLo: number, attrHi: number, out: EntryWords): void;
  /** The attribute bits of an existing leaf (generic_pt attr_from_entry), to re-encode it split. */
  leafAttrBits(level: number, lo: number, hi: number, out: EntryWords): void;
  isDirty(level: number, lo: number, hi: number): boolean;
  /** Makes `e` write-clean (the walker's part of read-and-clear-dirty). */
  makeClean(level: number, e: EntryWords): void;
  /** What the hardware does to the leaf on a DMA: accessed, and dirty when `write`. */
  markAccess(level: number, e: EntryWords, write: boolean): void;
  /** Only the dirty state, as generic_pt entry_make_write_dirty (the selftest's set_dirty). */
  makeDirty(level: number, e: EntryWords): void;
}

/** A format's constructor from a config: validates every key, throws FormatConfigError. */
export type FormatFactory = (config: FormatConfig) => PtFormat;

const TWO32 = 4294967296;

/** Splits a byte address (< 2^53) into halves. */
export function addrLo(addrBytes: number): number {
  return addrBytes >>> 0;
}
export function addrHi(addrBytes: number): number {
  return Math.floor(addrBytes / TWO32);
}
/** Joins halves of a field that was masked to < 2^53. */
export function joinHalves(lo: number, hi: number): number {
  return hi * TWO32 + (lo >>> 0);
}

/** Rejects keys a format does not understand, naming the key. */
export function checkKeys(config: FormatConfig, allowed: readonly string[]): void {
  for (const key of Object.keys(config)) {
    if ((config as Record<string, unknown>)[key] === undefined) continue;
    if (!allowed.includes(key)) throw new FormatConfigError(key, 'not a key of this format');
  }
}

export function checkChoice(key: string, value: number, choices: readonly number[]): number {
  if (!choices.includes(value)) throw new FormatConfigError(key, `${value} is not one of ${choices.join(', ')}`);
  return value;
}

export function checkRange(key: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new FormatConfigError(key, `${value} is not an integer in ${min}..${max}`);
  }
  return value;
}

/** Frames for a table of 2^indexBits 8-byte entries (at least one frame). */
export function framesFor(indexBits: number): number {
  return Math.max(1, 2 ** (indexBits + 3 - 12));
}

/** Leaf sizes of a "one size per level" format given the levels that may hold leaves. */
export function singleSizes(itemLg2: readonly number[], leafLevels: (level: number) => boolean, maxLeafLg2 = 64): number[][] {
  return itemLg2.map((lg2, level) => (leafLevels(level) && lg2 <= maxLeafLg2 ? [lg2] : []));
}

/** Geometry of a format whose levels all index `bits` bits above a 2^unitLg2 page, the root `topBits`. */
export function uniformGeometry(unitLg2: number, bits: number, levels: number, topBits = bits): {
  indexBits: number[];
  itemLg2: number[];
  tableFrames: number[];
} {
  const indexBits: number[] = [];
  const itemLg2: number[] = [];
  for (let level = 0; level < levels; level++) {
    indexBits.push(level === levels - 1 ? topBits : bits);
    itemLg2.push(unitLg2 + level * bits);
  }
  return { indexBits, itemLg2, tableFrames: indexBits.map(framesFor) };
}

/** lo half of a field value placed at bit `shift` (< 32) of a 64-bit word; exact for any safe integer. */
export function fieldLo(value: number, shift: number): number {
  return ((value & (2 ** (32 - shift) - 1)) * 2 ** shift) >>> 0;
}
/** hi half of the same field (bits above 31), unmasked. */
export function fieldHi(value: number, shift: number): number {
  return Math.floor(value / 2 ** (32 - shift));
}
/** Reads back a field at bit `shift` whose top bit is `topBit` (≤ 63). */
export function fieldGet(lo: number, hi: number, shift: number, topBit: number): number {
  const hiMask = topBit >= 32 ? 2 ** (topBit - 31) - 1 : 0;
  return (lo >>> shift) + (hi & hiMask) * 2 ** (32 - shift);
}

/** Byte-swaps a 32-bit half: how the walker reads and writes a big-endian format's words. */
export function bswap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}
