/**
 * Pin counts of physical frames (FOLL_PIN references), in typed arrays of 512 frames so that
 * large pinned ranges cost typed arrays, not objects. Shared by every process of a machine: a
 * frame has one count however many mappings or processes reach it.
 *
 * It also owns the frames that are "orphaned": released by their memory object (munmap,
 * truncate, exit) while still pinned. They go back to physical memory when the last pin goes,
 * as a pinned page outlives munmap in Linux.
 *
 * Invariants: counts never go negative (an unbalanced unpin throws — a reference bug);
 * `pinnedFrames` is the number of frames with a non-zero count; an orphan is always pinned.
 */

import type { PhysicalMemory } from './physical-memory.ts';

const BLOCK_SHIFT = 9;
const BLOCK_PAGES = 1 << BLOCK_SHIFT;

/** Per-frame pin counts, blocked so that large pinned ranges cost typed arrays, not objects. */
export class PinTable {
  private readonly blocks = new Map<number, Uint32Array>();
  pinnedFrames = 0;
  /** Frames no memory object holds any more but a pin still does. */
  private readonly orphans = new Set<number>();

  constructor(private readonly phys: PhysicalMemory) {}

  private lastNo = -1;
  private last: Uint32Array | undefined;

  get(pfn: number): number {
    const b = this.blocks.get(pfn >>> BLOCK_SHIFT);
    return b === undefined ? 0 : b[pfn & (BLOCK_PAGES - 1)];
  }

  /** The count block `no`, created on first use; the last one is cached for runs of frames. */
  private block(no: number): Uint32Array {
    if (no === this.lastNo && this.last !== undefined) return this.last;
    let b = this.blocks.get(no);
    if (b === undefined) {
      b = new Uint32Array(BLOCK_PAGES);
      this.blocks.set(no, b);
    }
    this.lastNo = no;
    this.last = b;
    return b;
  }

  /** Adds `delta` (±1) and returns the new count. */
  add(pfn: number, delta: number): number {
    const b = this.block(pfn >>> BLOCK_SHIFT);
    const i = pfn & (BLOCK_PAGES - 1);
    const v = b[i] + delta;
    if (v < 0) throw new Error(`unpin of frame 0x${pfn.toString(16)} that is not pinned`);
    b[i] = v;
    if (v === 0 && delta < 0) this.pinnedFrames--;
    if (v === 1 && delta > 0) this.pinnedFrames++;
    return v;
  }

  /**
   * Adds `delta` (±1) to the count of every frame `list[j] - 1`, j in [from, to), without a
   * Map lookup per frame while the frames stay in one block. Throws, as `add` does,
   * at the first count that would go negative (earlier frames stay changed).
   */
  addList(list: Int32Array, from: number, to: number, delta: number): void {
    for (let j = from; j < to; j++) {
      const pfn = list[j] - 1;
      const b = this.block(pfn >>> BLOCK_SHIFT);
      const i = pfn & (BLOCK_PAGES - 1);
      const v = b[i] + delta;
      if (v < 0) throw new Error(`unpin of frame 0x${pfn.toString(16)} that is not pinned`);
      b[i] = v;
      if (v === 0 && delta < 0) this.pinnedFrames--;
      if (v === 1 && delta > 0) this.pinnedFrames++;
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
    for (let j = from; j < to; j++) {
      const pfn = list[j] - 1;
      if (this.get(pfn) === 0 && this.orphans.delete(pfn)) this.phys.freeFrames(pfn, 1);
    }
  }
}
