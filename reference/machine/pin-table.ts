/**
 * Pin counts of physical frames (FOLL_PIN references), by blocks of 512 frames (one 2 MiB
 * huge page's worth). Shared by every process of a machine: a frame has one count however many
 * mappings or processes reach it.
 *
 * A block is either uniform — every frame of it has the same count, kept as one number in a
 * dense array indexed by block number (frames are allocated densely from a low PFN) — or
 * expanded into a Uint32Array of 512 counts. Pinning or unpinning a whole aligned block changes
 * one number (`addRun`), so pinning 64 GiB of 2 MiB pages is 32,768 additions, not 16.7 M; an
 * operation on part of a block expands it first, and the counts read the same either way.
 *
 * It also owns the frames that are "orphaned": released by their memory object (munmap,
 * truncate, exit) while still pinned. They go back to physical memory when the last pin goes,
 * as a pinned page outlives munmap in Linux.
 *
 * Invariants: counts never go negative (an unbalanced unpin throws — a reference bug);
 * `pinnedFrames` is the number of frames with a non-zero count; an orphan is always pinned;
 * a block is in `expanded` exactly when its `uniform` slot holds EXPANDED.
 */

import type { PhysicalMemory } from './physical-memory.ts';

const BLOCK_SHIFT = 9;
const BLOCK_PAGES = 1 << BLOCK_SHIFT;
const BLOCK_MASK = BLOCK_PAGES - 1;
/** `uniform` value of a block whose counts live in `expanded` (no real count gets this high). */
const EXPANDED = 0xffffffff;

export class PinTable {
  /** Per block: the count of each of its frames, or EXPANDED. Grown on demand; absent = 0. */
  private uniform = new Uint32Array(256);
  private readonly expanded = new Map<number, Uint32Array>();
  pinnedFrames = 0;
  /** Frames no memory object holds any more but a pin still does. */
  private readonly orphans = new Set<number>();

  constructor(private readonly phys: PhysicalMemory) {}

  private lastNo = -1;
  private last: Uint32Array | undefined;

  get(pfn: number): number {
    const no = pfn >>> BLOCK_SHIFT;
    const u = no < this.uniform.length ? this.uniform[no] : 0;
    if (u !== EXPANDED) return u;
    return (this.expanded.get(no) as Uint32Array)[pfn & BLOCK_MASK];
  }

  /** Makes room in `uniform` for block `no`. */
  private reach(no: number): void {
    if (no < this.uniform.length) return;
    let length = this.uniform.length;
    while (length <= no) length *= 2;
    const grown = new Uint32Array(length);
    grown.set(this.uniform);
    this.uniform = grown;
  }

  /** The per-frame counts of block `no`, expanded on first use; the last one is cached. */
  private block(no: number): Uint32Array {
    if (no === this.lastNo && this.last !== undefined) return this.last;
    this.reach(no);
    let b: Uint32Array;
    if (this.uniform[no] === EXPANDED) b = this.expanded.get(no) as Uint32Array;
    else {
      b = new Uint32Array(BLOCK_PAGES);
      if (this.uniform[no] !== 0) b.fill(this.uniform[no]);
      this.uniform[no] = EXPANDED;
      this.expanded.set(no, b);
    }
    this.lastNo = no;
    this.last = b;
    return b;
  }

  /** Adds `delta` (±1) to one frame's count and returns the new count. */
  add(pfn: number, delta: number): number {
    const b = this.block(pfn >>> BLOCK_SHIFT);
    const i = pfn & BLOCK_MASK;
    const v = b[i] + delta;
    if (v < 0) throw new Error(`unpin of frame 0x${pfn.toString(16)} that is not pinned`);
    b[i] = v;
    if (v === 0 && delta < 0) this.pinnedFrames--;
    if (v === 1 && delta > 0) this.pinnedFrames++;
    return v;
  }

  /**
   * Adds `delta` (±1) to the count of every frame `list[j] - 1`, j in [from, to). Throws, as
   * `add` does, at the first count that would go negative (earlier frames stay changed).
   */
  addList(list: Int32Array, from: number, to: number, delta: number): void {
    for (let j = from; j < to; j++) this.add(list[j] - 1, delta);
  }

  /**
   * Adds `delta` (±1) to the counts of frames [pfn, pfn + count): a whole uniform block costs
   * one addition. Throws at the first count that would go negative, as `addList` does.
   */
  addRun(pfn: number, count: number, delta: number): void {
    const end = pfn + count;
    for (let f = pfn; f < end; ) {
      const no = f >>> BLOCK_SHIFT;
      const k = f & BLOCK_MASK;
      const stop = Math.min(BLOCK_PAGES, k + (end - f));
      this.reach(no);
      const u = this.uniform[no];
      if (k === 0 && stop === BLOCK_PAGES && u !== EXPANDED) {
        const v = u + delta;
        if (v < 0) throw new Error(`unpin of frame 0x${f.toString(16)} that is not pinned`);
        this.uniform[no] = v;
        if (u === 0) this.pinnedFrames += BLOCK_PAGES;
        else if (v === 0) this.pinnedFrames -= BLOCK_PAGES;
      } else {
        for (let i = k; i < stop; i++) this.add(f + (i - k), delta);
      }
      f += stop - k;
    }
  }

  /** A memory object lets go of `pfn`: freed now, or when its last pin goes. */
  release(pfn: number): void {
    if (this.get(pfn) > 0) this.orphans.add(pfn);
    else this.phys.freeFrames(pfn, 1);
  }

  unpin(pfn: number): void {
    if (this.add(pfn, -1) === 0 && this.orphans.delete(pfn)) this.phys.freeFrames(pfn, 1);
  }

  /** Unpins frames `list[j] - 1` for j in [from, to); frees orphans whose count reaches 0. */
  unpinList(list: Int32Array, from: number, to: number): void {
    this.addList(list, from, to, -1);
    if (this.orphans.size === 0) return;
    for (let j = from; j < to; j++) this.freeIfOrphan(list[j] - 1);
  }

  /** Unpins frames [pfn, pfn + count); frees orphans whose count reaches 0. */
  unpinRun(pfn: number, count: number): void {
    this.addRun(pfn, count, -1);
    if (this.orphans.size === 0) return;
    for (let f = pfn; f < pfn + count; f++) this.freeIfOrphan(f);
  }

  /** Frames kept alive only by a pin (invariant checks). */
  get orphanCount(): number {
    return this.orphans.size;
  }

  private freeIfOrphan(pfn: number): void {
    if (this.get(pfn) === 0 && this.orphans.delete(pfn)) this.phys.freeFrames(pfn, 1);
  }
}
