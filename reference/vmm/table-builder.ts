/**
 * Builds and edits one page table of any little-endian format in a TableMemory, entry by
 * entry, with the format's codecs (reference/formats): the guest's own table in the check
 * harness and the VMM's shadow table are both written by it. Unlike the kernel-side walker
 * (page-table.ts) it never chooses leaf sizes: the caller says which leaf goes where, and it
 * reports exactly which descriptors it wrote, which is what a shadow must account for.
 *
 * Invariants: a descriptor is written only when its value changes (`pteWrites` counts those
 * writes, table pointers included); every table but the root holds at least one entry
 * (a table an edit leaves empty is unlinked and freed); a leaf is never written over a table
 * or under a leaf — the caller clears first (`clearRange`), so nothing is replaced silently.
 */

import { ENTRY_EMPTY, ENTRY_LEAF, ENTRY_TABLE, type EntryWords, type PtFormat } from '../formats/format.ts';
import type { TableMemory } from './table-memory.ts';

export class TableBuilder {
  readonly rootFrame: number;
  /** Descriptors written so far (leaves, table pointers and clears). */
  pteWrites = 0;
  /** Tables unlinked so far (a walk cache may hold them: not a leaf-only change). */
  tableUnlinks = 0;
  /** Live entries per table frame (the first frame of a multi-frame table). */
  private readonly live = new Map<number, number>();
  private readonly levelOf = new Map<number, number>();
  private readonly w: EntryWords = { lo: 0, hi: 0 };
  private readonly top: number;
  private readonly u: number;

  constructor(
    readonly format: PtFormat,
    readonly mem: TableMemory,
    readonly levels = format.levels,
  ) {
    if (format.bigEndian) throw new Error(`${format.name}: big-endian tables are not built here`);
    this.top = levels - 1;
    this.u = format.unitLg2;
    this.rootFrame = mem.allocFrames(format.tableFrames[this.top]);
    this.live.set(this.rootFrame, 0);
    this.levelOf.set(this.rootFrame, this.top);
  }

  /** Table frames held now, root included. */
  get tableCount(): number {
    return this.live.size;
  }

  private index(level: number, iovaUnit: number): number {
    return Math.floor(iovaUnit / 2 ** (this.format.itemLg2[level] - this.u)) % 2 ** this.format.indexBits[level];
  }

  private put(addr: number, lo: number, hi: number): void {
    this.mem.write64(addr, lo, hi);
    this.pteWrites++;
  }

  /**
   * Installs a leaf of 2^sizeLg2 bytes at `level` for the IOVA unit `iovaUnit` (aligned),
   * allocating the tables on the way. Returns what changed: 'none', 'new' (the entry was empty
   * — no walker can have cached it) or 'replaced' (a present entry changed). Throws when a
   * leaf above or a table at `level` is in the way.
   */
  setLeaf(iovaUnit: number, level: number, oaUnit: number, sizeLg2: number, attrLo: number, attrHi: number): 'none' | 'new' | 'replaced' {
    const f = this.format;
    let frame = this.rootFrame;
    for (let l = this.top; l > level; l--) {
      const addr = frame * 4096 + this.index(l, iovaUnit) * 8;
      const lo = this.mem.read32(addr);
      const hi = this.mem.read32(addr + 4);
      const kind = f.kind(l, lo, hi);
      if (kind === ENTRY_LEAF) throw new Error(`a level-${l} leaf covers IOVA unit ${iovaUnit}`);
      if (kind === ENTRY_TABLE) {
        frame = f.tablePfn(l, lo, hi);
        continue;
      }
      const child = this.mem.allocFrames(f.tableFrames[l - 1]);
      this.live.set(child, 0);
      this.levelOf.set(child, l - 1);
      f.encodeTable(l, child, this.w);
      this.put(addr, this.w.lo, this.w.hi);
      this.live.set(frame, this.live.get(frame)! + 1);
      frame = child;
    }
    const addr = frame * 4096 + this.index(level, iovaUnit) * 8;
    const lo = this.mem.read32(addr);
    const hi = this.mem.read32(addr + 4);
    const kind = f.kind(level, lo, hi);
    if (kind === ENTRY_TABLE) throw new Error(`a table sits at level ${level} for IOVA unit ${iovaUnit}`);
    f.encodeLeaf(level, oaUnit, sizeLg2, attrLo, attrHi, this.w);
    if (kind !== ENTRY_EMPTY && lo === this.w.lo && hi === this.w.hi) return 'none';
    if (kind === ENTRY_EMPTY) this.live.set(frame, this.live.get(frame)! + 1);
    this.put(addr, this.w.lo, this.w.hi);
    return kind === ENTRY_EMPTY ? 'new' : 'replaced';
  }

  /**
   * Clears every leaf inside [startUnit, endUnit) and frees the tables that leaves empty.
   * A leaf that straddles the range is an error (the caller's range follows leaf boundaries).
   * Returns the number of leaves cleared.
   */
  clearRange(startUnit: number, endUnit: number): number {
    return this.clearIn(this.rootFrame, this.top, 0, startUnit, endUnit);
  }

  private clearIn(frame: number, level: number, base: number, start: number, end: number): number {
    const f = this.format;
    const itemUnits = 2 ** (f.itemLg2[level] - this.u);
    const entries = 2 ** f.indexBits[level];
    const first = Math.max(0, Math.floor((start - base) / itemUnits));
    const last = Math.min(entries - 1, Math.floor((end - 1 - base) / itemUnits));
    let cleared = 0;
    for (let i = first; i <= last; i++) {
      const addr = frame * 4096 + i * 8;
      const lo = this.mem.read32(addr);
      const hi = this.mem.read32(addr + 4);
      const kind = f.kind(level, lo, hi);
      if (kind === ENTRY_EMPTY) {
        if (lo !== 0 || hi !== 0) this.put(addr, 0, 0);
        continue;
      }
      const itemBase = base + i * itemUnits;
      if (kind === ENTRY_LEAF) {
        if (itemBase < start || itemBase + itemUnits > end) throw new Error(`the level-${level} leaf at IOVA unit ${itemBase} straddles [${start}, ${end})`);
        this.put(addr, 0, 0);
        this.live.set(frame, this.live.get(frame)! - 1);
        cleared++;
        continue;
      }
      const child = f.tablePfn(level, lo, hi);
      cleared += this.clearIn(child, level - 1, itemBase, start, end);
      if (this.live.get(child) === 0) {
        this.put(addr, 0, 0);
        this.live.delete(child);
        this.levelOf.delete(child);
        this.mem.freeFrames(child, f.tableFrames[level - 1]);
        this.tableUnlinks++;
        this.live.set(frame, this.live.get(frame)! - 1);
      }
    }
    return cleared;
  }

  /** Frees every table, root included (the builder is unusable afterwards). */
  destroy(): void {
    for (const [frame] of this.live) this.mem.freeFrames(frame, this.format.tableFrames[this.levelOf.get(frame)!]);
    this.live.clear();
    this.levelOf.clear();
  }
}
