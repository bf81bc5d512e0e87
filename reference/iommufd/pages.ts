/**
 * iopt_pages: the pinned-page store behind one MAP (a user VA range) or MAP_FILE (a file
 * range). COPY and split areas share it, so a page is pinned and charged once however many
 * areas, domains and accesses use it ("a page is pinned only once", iommufd.rst).
 *
 * Every holder (an area filled into its IOAS's domains, an access pin) adds 1 to the holder
 * count of each page it covers; a page is pinned in process memory while its count is above 0.
 * Counts and pinned frames live in typed arrays of 512 pages, so pinning 64 GiB costs typed-array
 * loops, not per-page objects. Page indices are JS numbers (< 2^35 for a 2^47 address space).
 *
 * Invariants: `pin` succeeds completely or changes nothing (resolution and RLIMIT are checked
 * for every page first); `npinned` equals the number of pages with a non-zero holder count and
 * equals what this store has charged.
 */

import type { MemoryObject, ProcessMemory } from '../machine/process-memory.ts';
import { PAGE_BYTES } from '../machine/process-memory.ts';
import type { AccountMode, Accounting } from './accounting.ts';
import { UapiError } from './errors.ts';
import type { FailNth } from './fail-nth.ts';

const BLOCK_SHIFT = 9;
const BLOCK_PAGES = 1 << BLOCK_SHIFT;
const BLOCK_MASK = BLOCK_PAGES - 1;

export type PagesSource =
  | { kind: 'user'; startVpn: number }
  | { kind: 'file'; file: MemoryObject; startPage: number };

let nextPagesSerial = 1;

/** Holder counts and pinned frames (pfn + 1, 0 = none) of 512 consecutive pages. */
interface PagesBlock {
  readonly holders: Uint32Array;
  readonly frames: Int32Array;
}

/** Frames released by one block of an unpin, handed to process memory in one call. */
const releasedScratch = new Int32Array(BLOCK_PAGES);

export class IoptPages {
  readonly serial = nextPagesSerial++;
  /** Areas that reference this store (iopt_put_pages frees at 0). */
  areaRefs = 0;
  npinned = 0;
  /** Created on the first pin: most stores are never pinned (no domain, no access). */
  private blocks: Map<number, PagesBlock> | undefined;

  constructor(
    /** The mm it pins from and charges (source_mm); IOAS_CHANGE_PROCESS re-points both. */
    public memory: ProcessMemory,
    public accounting: Accounting,
    readonly source: PagesSource,
    readonly npages: number,
    readonly writable: boolean,
    public accountMode: AccountMode,
    /** Byte address (user VA, or file offset) of page 0: auto IOVA keeps its alignment. */
    readonly baseAddrBytes: bigint,
    readonly failNth?: FailNth,
  ) {}

  private block(blockNo: number): PagesBlock | undefined {
    return this.blocks === undefined ? undefined : this.blocks.get(blockNo);
  }

  /** The pinned frame of page `index`, or -1. */
  frameAt(index: number): number {
    const b = this.block(Math.floor(index / BLOCK_PAGES));
    return b === undefined ? -1 : b.frames[index & BLOCK_MASK] - 1;
  }

  holderCount(index: number): number {
    const b = this.block(Math.floor(index / BLOCK_PAGES));
    return b === undefined ? 0 : b.holders[index & BLOCK_MASK];
  }

  /** True when page `index` can be pinned now (its memory is mapped / inside the file). */
  private resolvable(first: number, count: number): boolean {
    if (this.source.kind === 'user') return this.memory.isMapped(this.source.startVpn + first, count);
    return this.source.startPage + first + count <= this.source.file.sizePages;
  }

  /** Writes pfn + 1 of pages [index, index + count) into `out` from `outOffset`, allocating. */
  private resolveFrames(index: number, count: number, out: Int32Array, outOffset: number): void {
    if (this.source.kind === 'user') this.memory.userFramesInto(this.source.startVpn + index, count, out, outOffset);
    else this.memory.objectFramesInto(this.source.file, this.source.startPage + index, count, out, outOffset);
  }

  /**
   * Adds one holder to pages [first, first + count): pins (and charges) the pages that had
   * none. EFAULT when such a page's memory is gone, ENOMEM over RLIMIT_MEMLOCK.
   */
  pin(first: number, count: number): void {
    if (first < 0 || count < 0 || first + count > this.npages) throw new Error(`iopt_pages: pin [${first}, +${count}) outside ${this.npages} pages`);
    const last = first + count;
    let fresh = 0;
    if (this.blocks === undefined || this.blocks.size === 0) {
      // Nothing held yet (the common case, and a garbage range of 2^40 pages): one resolution
      // check over the whole range fails fast, as GUP does at the first hole.
      if (!this.resolvable(first, count)) throw new UapiError('EFAULT', 'user memory behind the mapping is gone');
      fresh = count;
    } else {
      let runStart = -1;
      for (let i = first; i < last; ) {
        const blockNo = Math.floor(i / BLOCK_PAGES);
        const end = Math.min(last, (blockNo + 1) * BLOCK_PAGES);
        const b = this.blocks.get(blockNo);
        if (b === undefined) {
          fresh += end - i;
          if (runStart < 0) runStart = i;
          i = end;
          continue;
        }
        const h = b.holders;
        for (; i < end; i++) {
          if (h[i & BLOCK_MASK] === 0) {
            fresh++;
            if (runStart < 0) runStart = i;
          } else if (runStart >= 0) {
            if (!this.resolvable(runStart, i - runStart)) throw new UapiError('EFAULT', 'user memory behind the mapping is gone');
            runStart = -1;
          }
        }
      }
      if (runStart >= 0 && !this.resolvable(runStart, last - runStart)) throw new UapiError('EFAULT', 'user memory behind the mapping is gone');
    }
    this.failNth?.point('pin batch');
    this.accounting.charge(this.accountMode, fresh);
    const blocks = (this.blocks ??= new Map());
    for (let i = first; i < last; ) {
      const blockNo = Math.floor(i / BLOCK_PAGES);
      const blockFirst = blockNo * BLOCK_PAGES;
      let b = blocks.get(blockNo);
      const end = Math.min(last, blockFirst + BLOCK_PAGES) - blockFirst;
      let k = i - blockFirst;
      if (b === undefined) {
        // One backing store for both arrays: fewer buffers for the collector to track.
        const buf = new ArrayBuffer(BLOCK_PAGES * 8);
        b = { holders: new Uint32Array(buf, 0, BLOCK_PAGES), frames: new Int32Array(buf, BLOCK_PAGES * 4, BLOCK_PAGES) };
        blocks.set(blockNo, b);
        // A new block: every page in it is fresh.
        b.holders.fill(1, k, end);
        this.resolveFrames(blockFirst + k, end - k, b.frames, k);
        this.memory.pinFrameList(b.frames, k, end);
        i = blockFirst + end;
        continue;
      }
      const h = b.holders;
      while (k < end) {
        if (h[k] !== 0) {
          h[k]++;
          k++;
          continue;
        }
        // A run of pages nobody holds: resolve their frames and pin them in one go.
        const k0 = k;
        for (; k < end && h[k] === 0; k++) h[k] = 1;
        this.resolveFrames(blockFirst + k0, k - k0, b.frames, k0);
        this.memory.pinFrameList(b.frames, k0, k);
      }
      i = blockFirst + end;
    }
    this.npinned += fresh;
  }

  /** Removes one holder from pages [first, first + count); unpins and uncharges at zero. */
  unpin(first: number, count: number): void {
    let released = 0;
    const last = first + count;
    for (let i = first; i < last; ) {
      const blockNo = Math.floor(i / BLOCK_PAGES);
      const blockFirst = blockNo * BLOCK_PAGES;
      const b = this.block(blockNo);
      if (b === undefined) throw new Error(`iopt_pages: unpin of unpinned page ${i}`);
      const h = b.holders;
      const f = b.frames;
      const end = Math.min(last, blockFirst + BLOCK_PAGES) - blockFirst;
      let n = 0;
      for (let k = i - blockFirst; k < end; k++) {
        if (h[k] === 0) {
          // A reference bug: what was released so far is released, as one page at a time would.
          this.memory.unpinFrameList(releasedScratch, 0, n);
          throw new Error(`iopt_pages: unpin of unpinned page ${blockFirst + k}`);
        }
        if (--h[k] === 0) {
          releasedScratch[n++] = f[k];
          f[k] = 0;
        }
      }
      this.memory.unpinFrameList(releasedScratch, 0, n);
      released += n;
      i = blockFirst + end;
    }
    this.npinned -= released;
    this.accounting.uncharge(this.accountMode, released);
  }

  /**
   * Calls `run(firstIndex, pfn, count)` for each maximal run of pinned pages in
   * [first, first + count) whose frames are physically consecutive.
   */
  forEachFrameRun(first: number, count: number, run: (index: number, pfn: number, pages: number) => void): void {
    let startIdx = -1;
    let startPfn = -1;
    let len = 0;
    const last = first + count;
    for (let i = first; i < last; ) {
      const blockNo = Math.floor(i / BLOCK_PAGES);
      const blockFirst = blockNo * BLOCK_PAGES;
      const b = this.block(blockNo);
      if (b === undefined) throw new Error(`iopt_pages: page ${i} is not pinned`);
      const f = b.frames;
      const end = Math.min(last, blockFirst + BLOCK_PAGES);
      for (; i < end; i++) {
        const pfn = f[i - blockFirst] - 1;
        if (pfn < 0) throw new Error(`iopt_pages: page ${i} is not pinned`);
        if (len > 0 && pfn === startPfn + len) {
          len++;
          continue;
        }
        if (len > 0) run(startIdx, startPfn, len);
        startIdx = i;
        startPfn = pfn;
        len = 1;
      }
    }
    if (len > 0) run(startIdx, startPfn, len);
  }

  describe(): Record<string, unknown> {
    return {
      serial: this.serial,
      source: this.source.kind === 'user' ? { user_va: this.source.startVpn * PAGE_BYTES } : { file_page: this.source.startPage },
      npages: this.npages,
      npinned: this.npinned,
      writable: this.writable,
      account_mode: this.accountMode,
    };
  }
}
