/**
 * The shared walker: one I/O page table of any format, built in simulated PhysicalMemory.
 * Every algorithm (map, unmap, translate, dirty, dump, destroy) is written once here on top of
 * the per-entry codecs of `format.ts`; a format never walks. Invariant: every table frame the
 * table holds is reachable from `rootPfn` and counted in `tableFrameCount`.
 *
 * How a consumer uses it:
 * ```ts
 * const pt = PageTable.create(mem, 'mock', {});      // format name + config; allocates the root
 * const u = pt.unitLg2;                 // every IOVA / OA / length is in units of 2^u bytes
 * pt.map(iovaUnit, oaUnit, lengthUnits, IOMMU_READ | IOMMU_WRITE,
 *        { maxLeafLg2: 12, pageSizesLg2: [11, 20] });  // both optional; throws PtError{errno}
 * const t = pt.translate(iovaUnit);     // null, or {oaUnit, leafIovaUnit, sizeLg2, perm, level, …}
 * pt.markAccess(iovaUnit, write);       // a simulated DMA: sets A (and D on a write) in the leaf
 * pt.setDirty(iovaUnit);                // the selftest's IOMMU_TEST_OP_DIRTY: D only
 * pt.readAndClearDirty(iovaUnit, lengthUnits, 'clear' | 'no-clear', (iovaUnit, lengthUnits) => …);
 * const n = pt.unmap(iovaUnit, lengthUnits);   // units unmapped, may differ from the request
 * pt.tableFrameCount;                   // 4 KiB frames of tables held now
 * pt.pageSizesLg2;                      // the domain's pgsize bitmap as log2 sizes
 * pt.dump();                            // PGTABLE_DUMP: {format, config, root, words: [{addr, value}]}
 * pt.destroy();                         // frees every table frame, root included
 * ```
 * Units: `unitLg2` is 12 for most formats, 14/16 for ARM 16K/64K granules, the page shift of
 * the window for ppc-tce and 11 for mock; page numbers stay safe integers even for 64-bit AMD
 * IOVAs (< 2^52 units). Byte address = unit × 2^unitLg2 (use BigInt at the uAPI boundary only).
 * Leaf sizes are log2 bytes. Sign-extended formats (vtd-fs, riscv-sv) take the IOVA truncated
 * to `ias` bits. A ppc-tce IOVA unit is the page index inside the DMA window.
 * Dump: `root` and `addr` are lowercase "0x…" byte addresses; `value` is "0x" + 16 hex digits,
 * the 8 bytes at `addr` read as a little-endian u64 (so a big-endian TCE shows byte-swapped);
 * words are sorted by address, zero words are left out.
 *
 * Rules (generic_pt iommu_pt.h, which the kernel's VT-d, AMD, RISC-V and selftest mock tables
 * use; ARM differences noted):
 * - map picks, per step, the largest leaf size allowed by the format, `pageSizesLg2` and
 *   `maxLeafLg2`, by alignment of IOVA and OA and by the remaining length (iommu_map's
 *   iommu_pgsize() + map_pages). IOMMU_OPTION_HUGE_PAGES=0 makes iommufd map one CPU page per
 *   iommu_map call: pass `maxLeafLg2: 12` (for the 2 KiB mock that is a 2-entry NextLevel=7
 *   leaf, as in the kernel). An empty table in the way of a bigger leaf is freed and replaced
 *   (gpt clear_contig). Errnos, checked before anything changes: EINVAL (length 0, prot
 *   without READ/WRITE, a prot the format refuses, e.g. read-only on a VT-d errata parent),
 *   ERANGE (IOVA beyond ias, OA beyond oas), ENXIO (IOVA/OA/length not aligned to the smallest
 *   allowed size); found while mapping: EADDRINUSE (EEXIST for ARM, io-pgtable-arm) when a
 *   leaf is in the way, ENOMEM when `failAlloc` refuses a table or physical memory has no frames for it — then what this call mapped is
 *   unmapped again (iommu_map does) and, with freeEmptyTables, the tables it installed are
 *   freed too (the kernel keeps them, empty: freeEmptyTables false).
 * - unmap, mode 'kernel' (default): stops at the first hole and returns what it unmapped before
 *   it; a range starting inside a leaf unmaps nothing there (gpt: -EINVAL, stop); a leaf that
 *   extends past the end of the range is removed whole and counted whole, so the result can
 *   exceed the request (iommu_unmap's caller sees it). Mode 'split' splits a partially covered
 *   huge or contiguous leaf into smaller leaves with the same attributes and unmaps exactly the
 *   range (what VFIO type1 once relied on; no current kernel driver does it).
 * - Tables: unmap frees every table it leaves empty (default), so a failed or undone map
 *   leaves no table frames behind (the core's STATE compares them). generic_pt frees only
 *   tables the unmap range covers whole and keeps other empty ones (visible in dumps, invisible
 *   to a hardware walk) until a bigger leaf replaces them or destroy(): `{freeEmptyTables:
 *   false}` reproduces that exactly.
 * - Performance: map and unmap read and write a table's entries in place (PhysicalMemory's
 *   frame words, one 4 KiB frame of a table at a time), never copying a span and never
 *   allocating per PTE; no BigInt. Whether a table an unmap touched is now empty is answered by
 *   scanning from where it cleared entries, so a table still in use answers at once.
 */

import type { PhysicalMemory } from '../machine/physical-memory.ts';
import {
  bswap32,
  ENTRY_EMPTY,
  ENTRY_LEAF,
  ENTRY_TABLE,
  IOMMU_READ,
  IOMMU_WRITE,
  type DumpConfig,
  type EntryWords,
  type FormatConfig,
  type FormatName,
  type PtFormat,
} from './format.ts';
import { createFormat } from './registry.ts';

const FRAME_BYTES = 4096;
/** What a frame without storage reads as (never written: a walk stops at its first entry). */
const ZERO_FRAME = new Uint32Array(FRAME_BYTES / 4);

export type Errno = 'EINVAL' | 'ENXIO' | 'ERANGE' | 'EADDRINUSE' | 'EEXIST' | 'ENOENT' | 'ENOMEM';

export class PtError extends Error {
  constructor(
    readonly errno: Errno,
    message: string,
  ) {
    super(`${errno}: ${message}`);
    this.name = 'PtError';
  }
}

export interface MapOptions {
  /** Cap on the leaf size, log2 bytes (iommufd HUGE_PAGES=0 ⇒ the smallest page). */
  maxLeafLg2?: number;
  /** The domain's pgsize bitmap as a list of log2 sizes; sizes the format lacks are ignored. */
  pageSizesLg2?: readonly number[];
}

export interface UnmapOptions {
  partial?: 'kernel' | 'split';
}

export interface Translation {
  /** OA unit of the requested IOVA unit. */
  oaUnit: number;
  leafIovaUnit: number;
  leafOaUnit: number;
  sizeLg2: number;
  perm: number;
  level: number;
  /** Descriptor address (bytes) and logical halves of the leaf entry. */
  entryAddr: number;
  lo: number;
  hi: number;
}

export interface DumpWord {
  addr: string;
  value: string;
}

export interface PageTableDump {
  format: FormatName;
  config: DumpConfig;
  root: string;
  words: DumpWord[];
}

export interface PageTableOptions {
  /** Free tables an unmap leaves empty (default true; false: generic_pt's exact rule). */
  freeEmptyTables?: boolean;
  /**
   * Start with this many levels and add levels on top as maps need them, up to the format's
   * `levels` (generic_pt PT_FEAT_DYNAMIC_TOP; Linux's AMD v1 starts at 3). Default: all levels.
   */
  startLevels?: number;
  /**
   * Asked before each table allocation a map needs; true makes that allocation fail: the map
   * undoes what it mapped and throws ENOMEM (fault injection, e.g. the FAIL_NTH hook).
   */
  failAlloc?: () => boolean;
}


function ctz(x: number): number {
  if (x === 0) return 64;
  const lo = x >>> 0;
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = Math.floor(x / 4294967296) >>> 0;
  return 32 + 31 - Math.clz32(hi & -hi);
}

function floorLg2(x: number): number {
  if (x < 4294967296) return 31 - Math.clz32(x);
  return 32 + 31 - Math.clz32(Math.floor(x / 4294967296));
}

function hex(v: number): string {
  return `0x${v.toString(16)}`;
}

export class PageTable {
  readonly format: PtFormat;
  readonly unitLg2: number;
  /** Root table frame and its level; both change only when the top grows (`startLevels`). */
  private root: number;
  private top: number;
  private readonly freeEmpty: boolean;
  private readonly failAlloc: (() => boolean) | undefined;
  /** Per level: units covered by one item, and entries per table. */
  private readonly itemUnits: number[];
  private readonly entries: number[];
  /** Largest allowed leaf size ≤ k (index k = log2 bytes, 0..64), −1 if none; and its level. */
  private readonly bestSize: Int8Array;
  private readonly sizeLevel: Int8Array;
  /** Units of IOVA the format allows, and those the current top covers. */
  private readonly ioUnits: number;
  /** First IOVA unit of the table (PPC TCE window); the walker indexes relative to it. */
  readonly iovaBaseUnit: number;
  private topUnits: number;
  private readonly oaUnits: number;
  private tableFrames = 0;
  private destroyed = false;
  private readonly be: boolean;
  /** Last table found for a leaf level: saves the descent on sequential maps. */
  private cLevel = -1;
  private cBase = 0;
  private cEnd = 0;
  private cPfn = 0;
  /** Scratch for entries (no per-PTE allocation). */
  private eLo = 0;
  private eHi = 0;
  private readonly w: EntryWords = { lo: 0, hi: 0 };
  private readonly attr: EntryWords = { lo: 0, hi: 0 };
  /** format.single0 in memory word order (big-endian formats swap bytes and halves). */
  private readonly s0Any: number;
  private readonly s0Mask: number;
  private readonly s0Val: number;
  private readonly s0Zero: number;
  private readonly s0LoOff: number;

  static create(mem: PhysicalMemory, name: FormatName, config: FormatConfig = {}, options: PageTableOptions = {}): PageTable {
    return new PageTable(mem, createFormat(name, config), options);
  }

  constructor(
    readonly mem: PhysicalMemory,
    format: PtFormat,
    options: PageTableOptions = {},
  ) {
    this.format = format;
    this.unitLg2 = format.unitLg2;
    const start = options.startLevels ?? format.startLevels ?? format.levels;
    if (!Number.isInteger(start) || start < 1 || start > format.levels) {
      throw new RangeError(`startLevels ${start} is not in 1..${format.levels}`);
    }
    this.top = start - 1;
    this.be = format.bigEndian;
    this.freeEmpty = options.freeEmptyTables ?? true;
    this.failAlloc = options.failAlloc;
    this.itemUnits = format.itemLg2.map((lg2) => 2 ** (lg2 - format.unitLg2));
    this.entries = format.indexBits.map((b) => 2 ** b);
    this.ioUnits = 2 ** (format.iasLg2 - format.unitLg2);
    this.iovaBaseUnit = format.iovaBaseUnit ?? 0;
    this.oaUnits = 2 ** (format.oasLg2 - format.unitLg2);
    this.bestSize = new Int8Array(65).fill(-1);
    this.sizeLevel = new Int8Array(65).fill(-1);
    this.setPageSizes(undefined, undefined);
    const t = format.single0;
    this.s0Any = this.be ? bswap32(t.anyLo) : t.anyLo;
    this.s0Mask = this.be ? bswap32(t.maskLo) : t.maskLo;
    this.s0Val = this.be ? bswap32(t.valueLo) : t.valueLo;
    this.s0Zero = this.be ? bswap32(t.zeroHi) : t.zeroHi;
    this.s0LoOff = this.be ? 1 : 0;
    this.root = this.allocTable(this.top);
    this.topUnits = this.coverage(this.top);
  }

  get rootPfn(): number {
    return this.root;
  }

  /** Levels of the walk now (the DTE mode for AMD v1). */
  get levels(): number {
    return this.top + 1;
  }

  private coverage(top: number): number {
    return Math.min(this.ioUnits, this.itemUnits[top] * this.entries[top]);
  }

  /**
   * generic_pt increase_top (PT_FEAT_DYNAMIC_TOP): adds levels above the root until the top
   * covers `endUnit` and can hold a leaf at `leafLevel`; the old root becomes entry 0 of the
   * new one. Every allocation is asked for before any is made, so a failure changes nothing.
   * Returns null, or the errno: ERANGE beyond the format's levels, ENOMEM from `failAlloc`.
   */
  private growTop(endUnit: number, leafLevel: number): Errno | null {
    let target = this.top;
    while (endUnit > this.coverage(target) || leafLevel > target) {
      if (target + 1 >= this.format.levels) return 'ERANGE';
      target += 1;
    }
    let frames = 0;
    for (let l = this.top + 1; l <= target; l++) {
      if (this.failAlloc?.() || !this.mem.canAllocFrames(this.format.tableFrames[l], this.format.tableFrames[l])) return 'ENOMEM';
      frames += this.format.tableFrames[l];
    }
    if (frames > this.mem.framesFree) return 'ENOMEM';
    while (this.top < target) {
      const newRoot = this.allocTable(this.top + 1);
      this.format.encodeTable(this.top + 1, this.root, this.w);
      this.store(this.entryAddr(newRoot, 0), this.w.lo, this.w.hi);
      this.top += 1;
      this.root = newRoot;
      this.topUnits = this.coverage(this.top);
      this.cLevel = -1;
    }
    return null;
  }

  /** Every leaf size the format offers here (the domain's pgsize bitmap), log2 bytes ascending. */
  get pageSizesLg2(): number[] {
    const out = new Set<number>();
    this.format.leafSizesLg2.forEach((sizes) => sizes.forEach((s) => out.add(s)));
    return [...out].filter((s) => s <= this.format.oasLg2).sort((a, b) => a - b);
  }

  /** 4 KiB frames held by this table's levels now. */
  get tableFrameCount(): number {
    return this.tableFrames;
  }

  /** The size choice map uses now (recomputed only when a call asks for other options). */
  private curMaxLeaf: number | undefined;
  private curSizes: readonly number[] | undefined;
  private smallest = -1;

  private setPageSizes(maxLeafLg2: number | undefined, allowed: readonly number[] | undefined): void {
    const f = this.format;
    this.curMaxLeaf = maxLeafLg2;
    this.curSizes = allowed;
    this.sizeLevel.fill(-1);
    for (let level = 0; level < f.levels; level++) {
      for (const s of f.leafSizesLg2[level]) {
        if (maxLeafLg2 !== undefined && s > maxLeafLg2) continue;
        if (allowed !== undefined && !allowed.includes(s)) continue;
        if (s > f.oasLg2) continue;
        if (this.sizeLevel[s] < 0) this.sizeLevel[s] = level;
      }
    }
    let best = -1;
    this.smallest = -1;
    for (let k = 0; k <= 64; k++) {
      if (this.sizeLevel[k] >= 0) {
        best = k;
        if (this.smallest < 0) this.smallest = k;
      }
      this.bestSize[k] = best;
    }
  }

  // ---- memory access (the only place that knows byte order and PhysicalMemory) ----

  private load(addr: number): void {
    const a = this.mem.read32(addr);
    const b = this.mem.read32(addr + 4);
    if (this.be) {
      this.eLo = bswap32(b);
      this.eHi = bswap32(a);
    } else {
      this.eLo = a;
      this.eHi = b;
    }
  }

  private store(addr: number, lo: number, hi: number): void {
    if (this.be) {
      this.mem.write32(addr, bswap32(hi));
      this.mem.write32(addr + 4, bswap32(lo));
    } else {
      this.mem.write32(addr, lo);
      this.mem.write32(addr + 4, hi);
    }
  }

  private entryAddr(tablePfn: number, index: number): number {
    return tablePfn * FRAME_BYTES + index * 8;
  }

  private allocTable(level: number): number {
    const frames = this.format.tableFrames[level];
    const pfn = this.mem.allocFrames(frames, frames);
    this.tableFrames += frames;
    return pfn;
  }

  private freeTable(level: number, pfn: number): void {
    const frames = this.format.tableFrames[level];
    this.mem.freeFrames(pfn, frames);
    this.tableFrames -= frames;
    this.cLevel = -1;
  }

  /**
   * True when every entry of the table is zero. The scan starts at entry `hint` and wraps: a
   * caller passes where it just cleared entries, near which a table still in use most likely
   * has a mapped one, so the answer is usually found at once.
   */
  private tableIsEmpty(level: number, pfn: number, hint = 0): boolean {
    const words = this.entries[level] * 2;
    const start = Math.min(hint * 2, words);
    return this.zeroWords(pfn, start, words) && this.zeroWords(pfn, 0, start);
  }

  /** True when words [from, to) of the table at `pfn` (possibly several frames) are all zero. */
  private zeroWords(pfn: number, from: number, to: number): boolean {
    const perFrame = FRAME_BYTES / 4;
    for (let w = from; w < to; ) {
      const frame = Math.floor(w / perFrame);
      const end = Math.min(to, (frame + 1) * perFrame);
      const v = this.mem.frameWords(pfn + frame);
      if (v !== undefined) for (let k = w - frame * perFrame, kEnd = end - frame * perFrame; k < kEnd; k++) if (v[k] !== 0) return false;
      w = end;
    }
    return true;
  }

  private index(level: number, iovaUnit: number): number {
    return Math.floor(iovaUnit / this.itemUnits[level]) % this.entries[level];
  }

  private checkLive(): void {
    if (this.destroyed) throw new Error('page table used after destroy()');
  }

  // ---- map ----

  /**
   * Maps [iovaUnit, iovaUnit + lengthUnits) to OA units starting at oaUnit with Linux prot
   * flags. Throws PtError; on error nothing is left mapped by this call.
   */
  map(iovaUnit: number, oaUnit: number, lengthUnits: number, prot: number, options: MapOptions = {}): void {
    this.checkLive();
    const f = this.format;
    iovaUnit -= this.iovaBaseUnit;
    // Checks in generic_pt map_pages' order, all before anything changes.
    if ((prot & (IOMMU_READ | IOMMU_WRITE)) === 0) {
      if (f.noAccessMap === 'skip') return;
      throw new PtError('EINVAL', 'prot has neither IOMMU_READ nor IOMMU_WRITE');
    }
    if (!Number.isSafeInteger(oaUnit) || oaUnit < 0 || oaUnit + Math.max(lengthUnits, 0) > this.oaUnits) {
      throw new PtError('ERANGE', `OA units ${oaUnit}+${lengthUnits} beyond the ${f.oasLg2}-bit output range`);
    }
    if (!f.leafAttrs(prot, this.attr)) throw new PtError('EINVAL', `prot 0x${prot.toString(16)} cannot be expressed by ${f.name}`);
    if (!(lengthUnits > 0) || !Number.isSafeInteger(lengthUnits)) throw new PtError('EINVAL', `length ${lengthUnits} units`);
    if (options.maxLeafLg2 !== this.curMaxLeaf || options.pageSizesLg2 !== this.curSizes) {
      this.setPageSizes(options.maxLeafLg2, options.pageSizesLg2);
    }
    const smallUnits = this.smallest < 0 ? 0 : 2 ** (this.smallest - this.unitLg2);
    if (this.smallest < 0 || iovaUnit % smallUnits !== 0 || oaUnit % smallUnits !== 0 || lengthUnits % smallUnits !== 0) {
      throw new PtError('ENXIO', `IOVA/OA/length not aligned to the smallest allowed page 2^${this.smallest}`);
    }
    if (!Number.isSafeInteger(iovaUnit) || iovaUnit < 0 || iovaUnit + lengthUnits > this.ioUnits) {
      throw new PtError('ERANGE', `IOVA units ${iovaUnit}+${lengthUnits} beyond the ${f.iasLg2}-bit input range`);
    }
    if (iovaUnit + lengthUnits > this.topUnits) {
      const errno = this.growTop(iovaUnit + lengthUnits, 0);
      if (errno !== null) throw new PtError(errno, `cannot grow the top to cover IOVA units ${iovaUnit}+${lengthUnits}`);
    }
    this.newTables.length = 0;
    const done = this.mapRange(iovaUnit, oaUnit, lengthUnits);
    if (done < lengthUnits) {
      const err = this.mapError;
      if (done > 0) this.unmap(iovaUnit + this.iovaBaseUnit, done);
      if (this.freeEmpty) this.dropNewEmptyTables();
      throw err ?? new PtError(f.existsErrno, 'mapping in the way');
    }
  }

  private mapError: PtError | undefined;
  /** Tables the current map call installed: (level, frame, parent entry address) triples. */
  private readonly newTables: number[] = [];

  /** After a failed map: frees the tables it installed that are still empty, deepest first. */
  private dropNewEmptyTables(): void {
    const t = this.newTables;
    for (let k = t.length - 3; k >= 0; k -= 3) {
      const level = t[k];
      const pfn = t[k + 1];
      const parentAddr = t[k + 2];
      if (!this.mem.isAllocated(pfn)) continue;
      this.load(parentAddr);
      if (this.format.kind(level + 1, this.eLo, this.eHi) !== ENTRY_TABLE || this.format.tablePfn(level + 1, this.eLo, this.eHi) !== pfn) continue;
      if (!this.tableIsEmpty(level, pfn)) continue;
      this.store(parentAddr, 0, 0);
      this.freeTable(level, pfn);
    }
    t.length = 0;
  }

  /**
   * Returns units mapped; on a conflict stops and leaves `mapError`. Works a table span at a
   * time: one readBytes of the entries it will fill, leaves encoded into that copy, one
   * writeBytes back — PhysicalMemory is touched per table, not per PTE.
   */
  private mapRange(iovaUnit: number, oaUnit: number, lengthUnits: number): number {
    const f = this.format;
    const u = this.unitLg2;
    const aLo = this.attr.lo;
    const aHi = this.attr.hi;
    const w = this.w;
    const be = this.be;
    this.mapError = undefined;
    let iova = iovaUnit;
    let oa = oaUnit;
    let left = lengthUnits;
    while (left > 0) {
      // alignment of both addresses and the remaining length, as log2 bytes
      const k = Math.min(Math.min(ctz(iova), ctz(oa)) + u, floorLg2(left) + u, 64);
      const sizeLg2 = this.bestSize[k];
      const level = this.sizeLevel[sizeLg2];
      const units = 2 ** (sizeLg2 - u);
      if (level > this.top) {
        const errno = this.growTop(0, level);
        if (errno !== null) {
          this.mapError = new PtError(errno, `cannot grow the top to level ${level} for a 2^${sizeLg2} leaf`);
          return lengthUnits - left;
        }
      }
      let pfn: number;
      if (this.cLevel === level && iova >= this.cBase && iova < this.cEnd) {
        pfn = this.cPfn;
      } else {
        pfn = this.tableFor(level, iova);
        if (pfn < 0) return lengthUnits - left;
      }
      const reps = units / this.itemUnits[level];
      const startIdx = this.index(level, iova);
      const startAddr = this.entryAddr(pfn, startIdx);
      // The span stays inside one 4 KiB frame of the table (a table may be several frames; a
      // contiguous run is aligned to its size, so a frame boundary never cuts one).
      const inFrame = startAddr % FRAME_BYTES;
      const spanEntries = Math.min(this.entries[level] - startIdx, (FRAME_BYTES - inFrame) / 8, Math.ceil(left / units) * reps);
      if (spanEntries < reps) throw new Error(`${f.name}: a ${reps}-entry leaf run crosses a table frame`);
      // The entries are written in place; `o` is entry 0's word in the frame.
      const v = this.mem.frameWordsForWrite(Math.floor(startAddr / FRAME_BYTES));
      const o = inFrame >>> 2;
      let j = 0;
      let conflict = -1;
      for (;;) {
        for (let r = 0; r < reps; r++) {
          if ((v[o + 2 * (j + r)] | v[o + 2 * (j + r) + 1]) !== 0) {
            conflict = j + r;
            break;
          }
        }
        if (conflict >= 0) break;
        f.encodeLeaf(level, oa, sizeLg2, aLo, aHi, w);
        const m0 = be ? bswap32(w.hi) : w.lo;
        const m1 = be ? bswap32(w.lo) : w.hi;
        for (let r = 0; r < reps; r++, j++) {
          v[o + 2 * j] = m0;
          v[o + 2 * j + 1] = m1;
        }
        iova += units;
        oa += units;
        left -= units;
        if (left < units || j >= spanEntries) break;
        // A bigger leaf may fit from here on: let the outer loop decide.
        const nextK = Math.min(ctz(iova), ctz(oa)) + u;
        if (nextK > sizeLg2 && this.bestSize[Math.min(nextK, floorLg2(left) + u, 64)] !== sizeLg2) break;
      }
      if (conflict >= 0) {
        // Only replicas before the conflict were checked: nothing of this leaf was written.
        const addr = this.entryAddr(pfn, startIdx + conflict);
        this.load(addr);
        if (!this.clearForLeaf(level, addr)) {
          this.mapError = new PtError(this.format.existsErrno, `IOVA unit ${iova} already mapped`);
          return lengthUnits - left;
        }
      }
    }
    return lengthUnits;
  }

  /**
   * A non-empty entry where a leaf goes: an empty table below it is freed (generic_pt
   * clear_contig), anything mapped is a conflict.
   */
  private clearForLeaf(level: number, addr: number): boolean {
    const f = this.format;
    const kind = f.kind(level, this.eLo, this.eHi);
    if (kind !== ENTRY_TABLE || level === 0) return false;
    const child = f.tablePfn(level, this.eLo, this.eHi);
    if (this.subtreeHasLeaf(level - 1, child)) return false;
    this.freeSubtree(level - 1, child);
    this.store(addr, 0, 0);
    return true;
  }

  private subtreeHasLeaf(level: number, pfn: number): boolean {
    const f = this.format;
    for (let i = 0; i < this.entries[level]; i++) {
      this.load(this.entryAddr(pfn, i));
      const kind = f.kind(level, this.eLo, this.eHi);
      if (kind === ENTRY_LEAF) return true;
      if (kind === ENTRY_TABLE && this.subtreeHasLeaf(level - 1, f.tablePfn(level, this.eLo, this.eHi))) return true;
    }
    return false;
  }

  private freeSubtree(level: number, pfn: number): void {
    const f = this.format;
    if (level > 0) {
      for (let i = 0; i < this.entries[level]; i++) {
        this.load(this.entryAddr(pfn, i));
        if (f.kind(level, this.eLo, this.eHi) === ENTRY_TABLE) this.freeSubtree(level - 1, f.tablePfn(level, this.eLo, this.eHi));
      }
    }
    this.freeTable(level, pfn);
  }

  /** The table at `level` covering `iova`, allocating missing tables; −1 if a leaf is in the way. */
  private tableFor(level: number, iova: number): number {
    const f = this.format;
    let pfn = this.root;
    for (let l = this.top; l > level; l--) {
      const addr = this.entryAddr(pfn, this.index(l, iova));
      this.load(addr);
      const kind = f.kind(l, this.eLo, this.eHi);
      if (kind === ENTRY_TABLE) {
        pfn = f.tablePfn(l, this.eLo, this.eHi);
      } else if (kind === ENTRY_EMPTY) {
        // A table the machine has no frames for fails as an injected failure does.
        if (this.failAlloc?.() || !this.mem.canAllocFrames(f.tableFrames[l - 1], f.tableFrames[l - 1])) {
          this.mapError = new PtError('ENOMEM', `no memory for a level-${l - 1} table`);
          return -1;
        }
        const child = this.allocTable(l - 1);
        f.encodeTable(l, child, this.w);
        this.store(addr, this.w.lo, this.w.hi);
        this.newTables.push(l - 1, child, addr);
        pfn = child;
      } else {
        this.mapError = new PtError(this.format.existsErrno, `IOVA unit ${iova} inside an existing leaf`);
        return -1;
      }
    }
    const span = this.itemUnits[level] * this.entries[level];
    this.cLevel = level;
    this.cBase = Math.floor(iova / span) * span;
    this.cEnd = this.cBase + span;
    this.cPfn = pfn;
    return pfn;
  }

  // ---- translate / DMA ----

  /** Walks one IOVA unit; null when not mapped. Fills `out` if given. */
  translate(iovaUnit: number, out?: Translation): Translation | null {
    this.checkLive();
    iovaUnit -= this.iovaBaseUnit;
    if (!(iovaUnit >= 0 && iovaUnit < this.topUnits)) return null;
    const f = this.format;
    let pfn = this.root;
    for (let l = this.top; l >= 0; l--) {
      const addr = this.entryAddr(pfn, this.index(l, iovaUnit));
      this.load(addr);
      const lo = this.eLo;
      const hi = this.eHi;
      const kind = f.kind(l, lo, hi);
      if (kind === ENTRY_EMPTY) return null;
      if (kind === ENTRY_TABLE) {
        pfn = f.tablePfn(l, lo, hi);
        continue;
      }
      const sizeLg2 = f.leafSizeLg2(l, lo, hi);
      const units = 2 ** (sizeLg2 - this.unitLg2);
      const leafIovaUnit = Math.floor(iovaUnit / units) * units;
      const leafOaUnit = f.leafOaUnit(l, lo, hi);
      const t = out ?? ({} as Translation);
      t.oaUnit = leafOaUnit + (iovaUnit - leafIovaUnit);
      t.leafIovaUnit = leafIovaUnit + this.iovaBaseUnit;
      t.leafOaUnit = leafOaUnit;
      t.sizeLg2 = sizeLg2;
      t.perm = f.leafPerm(l, lo, hi);
      t.level = l;
      t.entryAddr = addr;
      t.lo = lo;
      t.hi = hi;
      return t;
    }
    return null;
  }

  /**
   * What the IOMMU does to the leaf on a DMA to `iovaUnit`: sets accessed, and dirty when
   * `write`. In a contiguous leaf only the touched replica is marked, as hardware does;
   * readAndClearDirty ORs D over the replicas (generic_pt amdv1pt_entry_is_write_dirty).
   * Permission is not checked here (the IOMMU unit faults first). False when nothing is mapped.
   */
  markAccess(iovaUnit: number, write: boolean): boolean {
    const t = this.translate(iovaUnit);
    if (t === null) return false;
    this.w.lo = t.lo;
    this.w.hi = t.hi;
    this.format.markAccess(t.level, this.w, write);
    this.store(t.entryAddr, this.w.lo, this.w.hi);
    return true;
  }

  /**
   * The iommufd selftest's IOMMU_TEST_OP_DIRTY (generic_pt set_dirty): makes the leaf entry
   * covering `iovaUnit` write-dirty and nothing else. False (ENOENT) when nothing is mapped.
   */
  setDirty(iovaUnit: number): boolean {
    const t = this.translate(iovaUnit);
    if (t === null) return false;
    this.w.lo = t.lo;
    this.w.hi = t.hi;
    this.format.makeDirty(t.level, this.w);
    this.store(t.entryAddr, this.w.lo, this.w.hi);
    return true;
  }

  /**
   * Reports every write-dirty leaf in the range through `record(iovaUnit, lengthUnits)` and
   * makes it clean unless 'no-clear' (IOMMU_DIRTY_NO_CLEAR). The reported extent is exactly
   * generic_pt record_dirty's: it starts at max(range start, item start); a one-item leaf
   * reports its item size from there (so a range starting inside a huge leaf reports past the
   * leaf's end), a contiguous leaf reports up to the end of its run or of the range in this
   * table. The caller clips to its bitmap, as iova_bitmap_set does.
   */
  readAndClearDirty(iovaUnit: number, lengthUnits: number, mode: 'clear' | 'no-clear', record: (iovaUnit: number, lengthUnits: number) => void): void {
    this.checkLive();
    if (!this.format.hasDirty) throw new PtError('EINVAL', `${this.format.name} has no dirty bit`);
    const base = this.iovaBaseUnit;
    const from = Math.max(iovaUnit - base, 0);
    const last = Math.min(iovaUnit - base + lengthUnits, this.topUnits);
    if (last <= from) return;
    this.dirtyWalk(this.top, this.root, 0, from, last, mode === 'clear', base === 0 ? record : (u, n) => record(u + base, n));
  }

  private dirtyWalk(level: number, pfn: number, baseUnit: number, from: number, to: number, clear: boolean, record: (iovaUnit: number, lengthUnits: number) => void): void {
    const f = this.format;
    const item = this.itemUnits[level];
    const first = Math.max(0, Math.floor((from - baseUnit) / item));
    const lastIdx = Math.min(this.entries[level], Math.ceil((to - baseUnit) / item));
    for (let i = first; i < lastIdx; i++) {
      const addr = this.entryAddr(pfn, i);
      this.load(addr);
      const kind = f.kind(level, this.eLo, this.eHi);
      if (kind === ENTRY_TABLE) {
        this.dirtyWalk(level - 1, f.tablePfn(level, this.eLo, this.eHi), baseUnit + i * item, from, to, clear, record);
      } else if (kind === ENTRY_LEAF) {
        const units = 2 ** (f.leafSizeLg2(level, this.eLo, this.eHi) - this.unitLg2);
        const reps = units / item;
        const runStart = i - (i % reps);
        // A contiguous leaf is dirty if any replica is (the hardware sets D in one of them).
        let dirty = false;
        for (let r = 0; r < reps; r++) {
          this.load(this.entryAddr(pfn, runStart + r));
          if (f.isDirty(level, this.eLo, this.eHi)) dirty = true;
        }
        if (dirty) {
          const va = Math.max(from, baseUnit + i * item);
          record(va, reps === 1 ? item : (Math.min(runStart + reps, lastIdx) - i) * item);
          if (clear) {
            for (let r = 0; r < reps; r++) {
              const a = this.entryAddr(pfn, runStart + r);
              this.load(a);
              this.w.lo = this.eLo;
              this.w.hi = this.eHi;
              f.makeClean(level, this.w);
              this.store(a, this.w.lo, this.w.hi);
            }
          }
        }
        i = runStart + reps - 1;
      }
    }
  }

  // ---- unmap ----

  /**
   * Unmaps [iovaUnit, iovaUnit + lengthUnits); returns the units unmapped (see the rules at the
   * top of this file). Never throws for holes: the caller turns a short count into its errno.
   */
  unmap(iovaUnit: number, lengthUnits: number, options: UnmapOptions = {}): number {
    this.checkLive();
    iovaUnit -= this.iovaBaseUnit;
    if (!(lengthUnits > 0) || iovaUnit < 0 || iovaUnit >= this.topUnits) return 0;
    this.cLevel = -1;
    const st = { unmapped: 0, stop: false };
    this.unmapWalk(this.top, this.root, 0, iovaUnit, iovaUnit + lengthUnits, options.partial === 'split', st);
    return st.unmapped;
  }

  /**
   * Clears the entries of the table at `pfn` (level `level`, first unit `baseUnit`) that lie in
   * [from, to), recursing into tables. Entries are read and cleared in place, one 4 KiB frame
   * of the table at a time (nothing is copied or allocated per entry).
   */
  private unmapWalk(level: number, pfn: number, baseUnit: number, from: number, to: number, split: boolean, st: { unmapped: number; stop: boolean }): void {
    const item = this.itemUnits[level];
    const first = Math.floor((from - baseUnit) / item);
    const lastIdx = Math.min(this.entries[level], Math.ceil((to - baseUnit) / item));
    for (let i = first; i < lastIdx && !st.stop; ) {
      const addr = this.entryAddr(pfn, i);
      const end = Math.min(lastIdx, i + (FRAME_BYTES - (addr % FRAME_BYTES)) / 8);
      // Entry e of this frame is words o + 2e, o + 2e + 1 (o may be negative: it is relative).
      const o = ((addr % FRAME_BYTES) >>> 2) - 2 * i;
      i = this.unmapFrameEntries(level, pfn, baseUnit, from, to, split, st, i, end, o, Math.floor(addr / FRAME_BYTES));
      if (i < end) break;
    }
  }

  /**
   * unmapWalk over entries [i, end) that share one frame (`framePfn`, entry e at words
   * o + 2e); returns where it stopped (end, or earlier when `st.stop`).
   */
  private unmapFrameEntries(level: number, pfn: number, baseUnit: number, from: number, to: number, split: boolean, st: { unmapped: number; stop: boolean }, i: number, end: number, o: number, framePfn: number): number {
    const f = this.format;
    const be = this.be;
    const item = this.itemUnits[level];
    const itemLg2 = f.itemLg2[level];
    // A frame with no storage reads as zeros: its first entry stops the walk, nothing is written.
    const v = this.mem.frameWords(framePfn) ?? ZERO_FRAME;
    while (i < end && !st.stop) {
      if (level === 0) {
        // Bulk path: one-item leaves (a level-0 item is one unit, always inside the range).
        const any = this.s0Any;
        const mask = this.s0Mask;
        const val = this.s0Val;
        const zero = this.s0Zero;
        const loOff = this.s0LoOff;
        const hiOff = 1 - loOff;
        let k = i;
        while (k < end) {
          const a = v[o + 2 * k + loOff];
          if ((a & any) === 0 || (a & mask) !== val || (v[o + 2 * k + hiOff] & zero) !== 0) break;
          v[o + 2 * k] = 0;
          v[o + 2 * k + 1] = 0;
          k++;
        }
        if (k > i) {
          st.unmapped += k - i;
          i = k;
          continue;
        }
      }
      const lo = be ? bswap32(v[o + 2 * i + 1]) : v[o + 2 * i];
      const hi = be ? bswap32(v[o + 2 * i]) : v[o + 2 * i + 1];
      const kind = f.kind(level, lo, hi);
      const itemBase = baseUnit + i * item;
      if (kind === ENTRY_EMPTY) {
        st.stop = true;
        break;
      }
      if (kind === ENTRY_TABLE) {
        const child = f.tablePfn(level, lo, hi);
        const whole = from <= itemBase && to >= itemBase + item;
        const childFrom = Math.max(from, itemBase);
        const childTo = Math.min(to, itemBase + item);
        this.unmapWalk(level - 1, child, itemBase, childFrom, childTo, split, st);
        const covered = whole && !st.stop;
        // The emptiness scan starts at the first entry the walk touched: when the table is
        // still in use, an entry there or just after it is most likely still mapped.
        const hint = Math.floor((childFrom - itemBase) / this.itemUnits[level - 1]);
        if (covered || (this.freeEmpty && this.tableIsEmpty(level - 1, child, hint))) {
          if (covered) this.freeSubtree(level - 1, child);
          else this.freeTable(level - 1, child);
          v[o + 2 * i] = 0;
          v[o + 2 * i + 1] = 0;
        }
        i++;
        continue;
      }
      const sizeLg2 = f.leafSizeLg2(level, lo, hi);
      if (sizeLg2 === itemLg2 && itemBase >= from && itemBase + item <= to) {
        // The common case: a one-item leaf inside the range.
        v[o + 2 * i] = 0;
        v[o + 2 * i + 1] = 0;
        st.unmapped += item;
        i++;
        continue;
      }
      const units = 2 ** (sizeLg2 - this.unitLg2);
      const reps = units / item;
      const runStart = i - (i % reps);
      const leafBase = baseUnit + runStart * item;
      const partial = leafBase < from || leafBase + units > to;
      if (partial && split && (level > 0 || reps > 1)) {
        if (level > 0) this.splitLeaf(level, pfn, runStart, reps);
        else this.splitContig(level, pfn, runStart, reps);
        continue; // re-read entry i: now a table or a single leaf
      }
      if (leafBase < from) {
        // generic_pt: a start inside a leaf is -EINVAL (nothing more unmapped)
        st.stop = true;
        break;
      }
      for (let r = 0; r < reps; r++) this.store(this.entryAddr(pfn, runStart + r), 0, 0);
      st.unmapped += units;
      i = runStart + reps;
    }
    return i;
  }

  /** Replaces a leaf at `level` (> 0) by a table of leaves of the next size down. */
  private splitLeaf(level: number, pfn: number, runStart: number, reps: number): void {
    const f = this.format;
    const addr0 = this.entryAddr(pfn, runStart);
    this.load(addr0);
    const lo = this.eLo;
    const hi = this.eHi;
    const oa0 = f.leafOaUnit(level, lo, hi);
    f.leafAttrBits(level, lo, hi, this.attr);
    const perItem = this.itemUnits[level];
    // Use items of this level with a lower table each: the child level's item size.
    const childLevel = level - 1;
    const childSizes = f.leafSizesLg2[childLevel];
    const itemLg2 = f.itemLg2[childLevel];
    if (!childSizes.includes(itemLg2)) throw new PtError('EINVAL', `${f.name} cannot hold leaves at level ${childLevel}`);
    for (let r = 0; r < reps; r++) {
      const child = this.allocTable(childLevel);
      const baseOa = oa0 + r * perItem;
      for (let j = 0; j < this.entries[childLevel]; j++) {
        f.encodeLeaf(childLevel, baseOa + j * this.itemUnits[childLevel], itemLg2, this.attr.lo, this.attr.hi, this.w);
        this.store(this.entryAddr(child, j), this.w.lo, this.w.hi);
      }
      f.encodeTable(level, child, this.w);
      this.store(this.entryAddr(pfn, runStart + r), this.w.lo, this.w.hi);
    }
  }

  /** Replaces a contiguous leaf by single-item leaves of the same level. */
  private splitContig(level: number, pfn: number, runStart: number, reps: number): void {
    const f = this.format;
    this.load(this.entryAddr(pfn, runStart));
    const oa0 = f.leafOaUnit(level, this.eLo, this.eHi);
    f.leafAttrBits(level, this.eLo, this.eHi, this.attr);
    for (let r = 0; r < reps; r++) {
      f.encodeLeaf(level, oa0 + r * this.itemUnits[level], f.itemLg2[level], this.attr.lo, this.attr.hi, this.w);
      this.store(this.entryAddr(pfn, runStart + r), this.w.lo, this.w.hi);
    }
  }

  // ---- dump / destroy ----

  dump(): PageTableDump {
    this.checkLive();
    const words: DumpWord[] = [];
    const visit = (level: number, pfn: number): void => {
      const f = this.format;
      const bytes = this.entries[level] * 8;
      const data = this.mem.readBytes(pfn * FRAME_BYTES, bytes);
      const view = new DataView(data.buffer, data.byteOffset, bytes);
      for (let i = 0; i < this.entries[level]; i++) {
        const a = view.getUint32(i * 8, true);
        const b = view.getUint32(i * 8 + 4, true);
        if (a === 0 && b === 0) continue;
        words.push({
          addr: hex(pfn * FRAME_BYTES + i * 8),
          value: `0x${b.toString(16).padStart(8, '0')}${a.toString(16).padStart(8, '0')}`,
        });
        const lo = this.be ? bswap32(b) : a;
        const hi = this.be ? bswap32(a) : b;
        if (level > 0 && f.kind(level, lo, hi) === ENTRY_TABLE) visit(level - 1, f.tablePfn(level, lo, hi));
      }
    };
    visit(this.top, this.root);
    words.sort((x, y) => (BigInt(x.addr) < BigInt(y.addr) ? -1 : 1));
    const config: DumpConfig = { ...this.format.dumpConfig };
    if (this.top !== this.format.levels - 1) {
      // A dynamic top reports the walk as it is now: the levels and input bits it covers.
      config.levels = this.top + 1;
      config.ias = Math.min(this.format.iasLg2, this.format.itemLg2[this.top] + this.format.indexBits[this.top]);
    }
    return { format: this.format.name, config, root: hex(this.root * FRAME_BYTES), words };
  }

  /** Frees every table frame, root included. The table is unusable afterwards. */
  destroy(): void {
    if (this.destroyed) return;
    this.freeSubtree(this.top, this.root);
    this.destroyed = true;
  }
}
