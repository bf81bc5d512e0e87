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

export class IoptPages {
  readonly serial = nextPagesSerial++;
  /** Areas that reference this store (iopt_put_pages frees at 0). */
  areaRefs = 0;
  npinned = 0;
  private readonly holders = new Map<number, Uint32Array>();
  private readonly frames = new Map<number, Int32Array>();

  constructor(
    readonly memory: ProcessMemory,
    readonly accounting: Accounting,
    readonly source: PagesSource,
    readonly npages: number,
    readonly writable: boolean,
    public accountMode: AccountMode,
    /** Byte address (user VA, or file offset) of page 0: auto IOVA keeps its alignment. */
    readonly baseAddrBytes: bigint,
    readonly failNth?: FailNth,
  ) {}

  /** The pinned frame of page `index`, or -1. */
  frameAt(index: number): number {
    const f = this.frames.get(index >>> BLOCK_SHIFT);
    return f === undefined ? -1 : f[index & BLOCK_MASK] - 1;
  }

  holderCount(index: number): number {
    const h = this.holders.get(index >>> BLOCK_SHIFT);
    return h === undefined ? 0 : h[index & BLOCK_MASK];
  }

  /** True when page `index` can be pinned now (its memory is mapped / inside the file). */
  private resolvable(first: number, count: number): boolean {
    if (this.source.kind === 'user') return this.memory.isMapped(this.source.startVpn + first, count);
    return this.source.startPage + first + count <= this.source.file.sizePages;
  }

  private resolveFrame(index: number): number {
    if (this.source.kind === 'user') return this.memory.frameForVpn(this.source.startVpn + index, true);
    return this.memory.objectFrame(this.source.file, this.source.startPage + index);
  }

  /**
   * Adds one holder to pages [first, first + count): pins (and charges) the pages that had
   * none. EFAULT when such a page's memory is gone, ENOMEM over RLIMIT_MEMLOCK.
   */
  pin(first: number, count: number): void {
    if (first < 0 || count < 0 || first + count > this.npages) throw new Error(`iopt_pages: pin [${first}, +${count}) outside ${this.npages} pages`);
    let fresh = 0;
    let runStart = -1;
    // Nothing held yet (the common case, and a garbage range of 2^40 pages): one resolution
    // check over the whole range fails fast, as GUP does at the first hole.
    if (this.holders.size === 0 && !this.resolvable(first, count)) throw new UapiError('EFAULT', 'user memory behind the mapping is gone');
    for (let i = first; i < first + count; ) {
      const blockNo = i >>> BLOCK_SHIFT;
      const h = this.holders.get(blockNo);
      const end = Math.min(first + count, (blockNo + 1) * BLOCK_PAGES);
      for (; i < end; i++) {
        if (h === undefined || h[i & BLOCK_MASK] === 0) {
          fresh++;
          if (runStart < 0) runStart = i;
        } else if (runStart >= 0) {
          if (!this.resolvable(runStart, i - runStart)) throw new UapiError('EFAULT', 'user memory behind the mapping is gone');
          runStart = -1;
        }
      }
    }
    if (runStart >= 0 && !this.resolvable(runStart, first + count - runStart)) throw new UapiError('EFAULT', 'user memory behind the mapping is gone');
    this.failNth?.point('pin batch');
    this.accounting.charge(this.accountMode, fresh);
    for (let i = first; i < first + count; ) {
      const blockNo = i >>> BLOCK_SHIFT;
      let h = this.holders.get(blockNo);
      if (h === undefined) {
        h = new Uint32Array(BLOCK_PAGES);
        this.holders.set(blockNo, h);
      }
      const end = Math.min(first + count, (blockNo + 1) * BLOCK_PAGES);
      for (; i < end; i++) {
        const k = i & BLOCK_MASK;
        if (h[k]++ === 0) {
          const pfn = this.resolveFrame(i);
          this.memory.pin(pfn);
          let f = this.frames.get(blockNo);
          if (f === undefined) {
            f = new Int32Array(BLOCK_PAGES);
            this.frames.set(blockNo, f);
          }
          f[k] = pfn + 1;
        }
      }
    }
    this.npinned += fresh;
  }

  /** Removes one holder from pages [first, first + count); unpins and uncharges at zero. */
  unpin(first: number, count: number): void {
    let released = 0;
    for (let i = first; i < first + count; ) {
      const blockNo = i >>> BLOCK_SHIFT;
      const h = this.holders.get(blockNo);
      const f = this.frames.get(blockNo);
      if (h === undefined || f === undefined) throw new Error(`iopt_pages: unpin of unpinned page ${i}`);
      const end = Math.min(first + count, (blockNo + 1) * BLOCK_PAGES);
      for (; i < end; i++) {
        const k = i & BLOCK_MASK;
        if (h[k] === 0) throw new Error(`iopt_pages: unpin of unpinned page ${i}`);
        if (--h[k] === 0) {
          this.memory.unpin(f[k] - 1);
          f[k] = 0;
          released++;
        }
      }
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
    for (let i = first; i < first + count; i++) {
      const pfn = this.frameAt(i);
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
