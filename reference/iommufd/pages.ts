/**
 * iopt_pages: the pinned-page store behind one MAP (a user VA range) or MAP_FILE (a file
 * range). COPY and split areas share it, so a page is pinned and charged once however many
 * areas, domains and accesses use it ("a page is pinned only once", iommufd.rst).
 *
 * Every holder (an area filled into its IOAS's domains, an access pin) adds 1 to the holder
 * count of each page it covers; a page is pinned in process memory while its count is above 0.
 * Pages are kept by blocks of 512 that follow the source's 2 MiB boundaries. A block pinned
 * whole at once from one physically contiguous run (a THP or hugetlb page) is compact: one
 * holder count and one base frame, pinned in the pin table as one run — so pinning 64 GiB of
 * 2 MiB pages touches no per-page data at all. Any partial operation on it expands it first into
 * typed arrays of counts and frames, which read the same. Page indices are JS numbers (< 2^52:
 * a MAP is below 2^64 bytes).
 *
 * Invariants: `pin` succeeds completely or changes nothing but the pages it faulted in
 * (resolution, RLIMIT and a claim beyond the machine's memory are checked for every page first;
 * memory that runs out part way is unwound); `npinned` equals the number of pages with a non-zero holder count and
 * equals what this store has charged plus `unchargedPinned`.
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

/**
 * 512 page slots that start at a 2 MiB boundary of the source (slot s is page s − slotOffset).
 * Compact (`holders === null`): every slot is held `uniformHolders` (≥ 1) times and slot k's
 * frame is `basePfn + k` — what a whole THP-backed 2 MiB block pinned at once looks like.
 * Expanded: per-slot holder counts and frames (pfn + 1, 0 = none). `held` counts the slots with
 * a non-zero count; a block with none is dropped.
 */
interface PagesBlock {
  holders: Uint32Array | null;
  frames: Int32Array | null;
  held: number;
  uniformHolders: number;
  basePfn: number;
}

/** Frames released by one block of an unpin, handed to process memory in one call. */
const releasedScratch = new Int32Array(BLOCK_PAGES);
/** Frames of a whole block being pinned, before it is known whether they are one run. */
const resolveScratch = new Int32Array(BLOCK_PAGES);

function newExpandedBlock(): PagesBlock {
  // One backing store for both arrays: fewer buffers for the collector to track.
  const buf = new ArrayBuffer(BLOCK_PAGES * 8);
  return { holders: new Uint32Array(buf, 0, BLOCK_PAGES), frames: new Int32Array(buf, BLOCK_PAGES * 4, BLOCK_PAGES), held: 0, uniformHolders: 0, basePfn: -1 };
}

/** Turns a compact block into per-slot arrays with the same counts and frames. */
function expand(b: PagesBlock): void {
  const e = newExpandedBlock();
  const frames = e.frames as Int32Array;
  (e.holders as Uint32Array).fill(b.uniformHolders);
  for (let k = 0; k < BLOCK_PAGES; k++) frames[k] = b.basePfn + k + 1;
  b.holders = e.holders;
  b.frames = frames;
  b.uniformHolders = 0;
  b.basePfn = -1;
}

/** True when `list` (pfn + 1 entries) holds BLOCK_PAGES physically consecutive frames. */
function isOneRun(list: Int32Array): boolean {
  const first = list[0];
  for (let k = 1; k < BLOCK_PAGES; k++) if (list[k] !== first + k) return false;
  return true;
}

export class IoptPages {
  readonly serial = nextPagesSerial++;
  /** Areas that reference this store (iopt_put_pages frees at 0). */
  areaRefs = 0;
  npinned = 0;
  /**
   * npinned − last_npinned of pages.c: pinned pages the owner was never charged for. 0 except
   * after an IOAS_CHANGE_PROCESS whose uncharge of a dead MM-mode owner failed (it left
   * last_npinned 0): the next pin charges them on top of its fresh pages, and unpins release
   * them first without uncharging anything (update_unpinned finds npinned ≤ last_npinned).
   */
  unchargedPinned = 0;
  /**
   * The blocks with held pages: the first one inline (a 2 MiB MAP has exactly one, and most
   * stores are never pinned at all), any others in a Map made when a second one is needed.
   */
  private oneNo = -1;
  private one: PagesBlock | undefined;
  private more: Map<number, PagesBlock> | undefined;
  /** Slot of page 0 in its block: blocks follow the source's 2 MiB boundaries. */
  private readonly slotOffset: number;

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
  ) {
    this.slotOffset = (source.kind === 'user' ? source.startVpn : source.startPage) & BLOCK_MASK;
  }

  private block(no: number): PagesBlock | undefined {
    if (no === this.oneNo) return this.one;
    return this.more === undefined ? undefined : this.more.get(no);
  }

  private addBlock(no: number, b: PagesBlock): void {
    if (this.one === undefined) {
      this.oneNo = no;
      this.one = b;
    } else (this.more ??= new Map()).set(no, b);
  }

  private dropBlock(no: number): void {
    if (no === this.oneNo) {
      this.oneNo = -1;
      this.one = undefined;
    } else this.more?.delete(no);
  }

  private get holdsAny(): boolean {
    return this.one !== undefined || (this.more !== undefined && this.more.size > 0);
  }

  private blockOf(index: number): PagesBlock | undefined {
    return this.block(Math.floor((index + this.slotOffset) / BLOCK_PAGES));
  }

  /** The pinned frame of page `index`, or -1. */
  frameAt(index: number): number {
    const b = this.blockOf(index);
    if (b === undefined) return -1;
    const k = (index + this.slotOffset) & BLOCK_MASK;
    return b.frames === null ? b.basePfn + k : b.frames[k] - 1;
  }

  holderCount(index: number): number {
    const b = this.blockOf(index);
    if (b === undefined) return 0;
    return b.holders === null ? b.uniformHolders : b.holders[(index + this.slotOffset) & BLOCK_MASK];
  }

  private unresolvable(): never {
    if (this.source.kind === 'user') throw new UapiError('EFAULT', 'user memory behind the mapping is gone');
    throw new UapiError('EINVAL', 'file pages past the end of the file');
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

  /** The first frame of the whole block from page `index` if memory keeps it as one run, else -1. */
  private frameRun(index: number): number {
    if (this.source.kind === 'user') return this.memory.userFrameRun(this.source.startVpn + index, BLOCK_PAGES);
    return this.memory.objectFrameRun(this.source.file, this.source.startPage + index, BLOCK_PAGES);
  }

  /**
   * Adds one holder to pages [first, first + count): pins (and charges) the pages that had
   * none. EFAULT when such a page's memory is gone (EINVAL for a file page past the end of
   * the file: memfd_pin_folios → shmem_get_folio_gfp), ENOMEM over RLIMIT_MEMLOCK.
   * `forAccess`: an access pin (iopt_area_add_access), which stores the pages in the pinned
   * xarray; `inXarray`: the caller knows the pages are already there (no pages_to_xarray).
   */
  pin(first: number, count: number, forAccess = false, inXarray = false): void {
    if (first < 0 || count < 0 || first + count > this.npages) throw new Error(`iopt_pages: pin [${first}, +${count}) outside ${this.npages} pages`);
    const last = first + count;
    const off = this.slotOffset;
    let fresh = 0;
    if (!this.holdsAny) {
      // Nothing held yet (the common case, and a garbage range of 2^40 pages): one resolution
      // check over the whole range fails fast, as GUP does at the first hole.
      if (!this.resolvable(first, count)) this.unresolvable();
      fresh = count;
    } else {
      let runStart = -1;
      for (let i = first; i < last; ) {
        const blockNo = Math.floor((i + off) / BLOCK_PAGES);
        const slot0 = blockNo * BLOCK_PAGES - off;
        const end = Math.min(last, slot0 + BLOCK_PAGES);
        const b = this.block(blockNo);
        if (b === undefined) {
          fresh += end - i;
          if (runStart < 0) runStart = i;
          i = end;
          continue;
        }
        const h = b.holders;
        if (h === null) {
          // Compact: every page of it is held.
          if (runStart >= 0 && !this.resolvable(runStart, i - runStart)) this.unresolvable();
          runStart = -1;
          i = end;
          continue;
        }
        for (; i < end; i++) {
          if (h[i - slot0] === 0) {
            fresh++;
            if (runStart < 0) runStart = i;
          } else if (runStart >= 0) {
            if (!this.resolvable(runStart, i - runStart)) this.unresolvable();
            runStart = -1;
          }
        }
      }
      if (runStart >= 0 && !this.resolvable(runStart, last - runStart)) this.unresolvable();
    }
    // Each fresh page needs a frame of its own: more than the machine has can never be pinned
    // (GUP's fault fails with VM_FAULT_OOM → ENOMEM), whatever length the caller claims.
    if (fresh > this.memory.phys.limitPfn - this.memory.phys.firstPfn) throw new UapiError('ENOMEM', `${fresh} pages to pin, more than the machine's memory`);
    // The injection points of a pin, in pages.c's order (see fail-nth.ts), all before anything
    // is charged or pinned: the batch (temp_kmalloc; for an access, its iopt_pages_access);
    // then, for pages nobody holds, the page-pointer array (temp_kmalloc; an access pins into
    // its caller's array) and pfn_reader_user_pin's own point; an access's pages_to_xarray;
    // the charge of the new pins (pfn_reader_user_update_pinned).
    const fn = this.failNth;
    if (fn !== undefined) {
      fn.point('pin batch');
      if (fresh > 0 && !forAccess) fn.point('temp_kmalloc upages');
      if (fresh > 0) fn.point('pfn_reader_user_pin', 'EFAULT');
      if (forAccess && (fresh > 0 || !inXarray)) fn.point('pages_to_xarray', 'EINVAL');
      if (fresh > 0) fn.point('pfn_reader_user_update_pinned');
    }
    const uncharged = this.unchargedPinned;
    this.accounting.charge(this.accountMode, fresh + uncharged);
    this.unchargedPinned = 0;
    try {
      this.addHolders(first, last);
    } catch (e) {
      if (!(e instanceof UapiError)) throw e;
      // Memory ran out part way (GUP faults pages in as it goes): what this call pinned is
      // unpinned again and the charge undone; the pages it faulted in stay the process's.
      this.releaseHolders(first, this.failedAt - first);
      this.accounting.uncharge(this.accountMode, fresh + uncharged);
      this.unchargedPinned = uncharged;
      throw e;
    }
    this.npinned += fresh;
  }

  /** Where addHolders stopped: pages before it got their holder, none from it on. */
  private failedAt = 0;

  /**
   * The commit half of `pin`: one more holder on pages [first, last), resolving and pinning
   * the frames of pages that had none. When a frame cannot be had (OutOfMemory), it throws
   * with `failedAt` saying how far it got: pages before it have their holder, none from it on.
   */
  private addHolders(first: number, last: number): void {
    const off = this.slotOffset;
    for (let i = first; i < last; ) {
      this.failedAt = i;
      const blockNo = Math.floor((i + off) / BLOCK_PAGES);
      const slot0 = blockNo * BLOCK_PAGES - off;
      const end = Math.min(last, slot0 + BLOCK_PAGES);
      let k = i - slot0;
      const kEnd = end - slot0;
      let b = this.block(blockNo);
      if (b === undefined) {
        // A new block: every page in it is fresh.
        if (k === 0 && kEnd === BLOCK_PAGES) {
          let base = this.frameRun(i);
          if (base < 0) {
            this.resolveFrames(i, BLOCK_PAGES, resolveScratch, 0);
            if (isOneRun(resolveScratch)) base = resolveScratch[0] - 1;
          }
          if (base >= 0) {
            b = { holders: null, frames: null, held: BLOCK_PAGES, uniformHolders: 1, basePfn: base };
            this.memory.pinFrameRun(base, BLOCK_PAGES);
          } else {
            b = newExpandedBlock();
            (b.holders as Uint32Array).fill(1);
            (b.frames as Int32Array).set(resolveScratch);
            b.held = BLOCK_PAGES;
            this.memory.pinFrameList(b.frames as Int32Array, 0, BLOCK_PAGES);
          }
        } else {
          b = newExpandedBlock();
          (b.holders as Uint32Array).fill(1, k, kEnd);
          this.resolveFrames(i, kEnd - k, b.frames as Int32Array, k);
          b.held = kEnd - k;
          this.memory.pinFrameList(b.frames as Int32Array, k, kEnd);
        }
        this.addBlock(blockNo, b);
        i = end;
        continue;
      }
      if (b.holders === null) {
        if (k === 0 && kEnd === BLOCK_PAGES) {
          b.uniformHolders++;
          i = end;
          continue;
        }
        expand(b);
      }
      const h = b.holders as Uint32Array;
      const f = b.frames as Int32Array;
      while (k < kEnd) {
        if (h[k] !== 0) {
          h[k]++;
          k++;
          this.failedAt = slot0 + k;
          continue;
        }
        // A run of pages nobody holds: resolve their frames and pin them in one go.
        const k0 = k;
        while (k < kEnd && h[k] === 0) k++;
        try {
          this.resolveFrames(slot0 + k0, k - k0, f, k0);
        } catch (e) {
          f.fill(0, k0, k);
          throw e;
        }
        h.fill(1, k0, k);
        this.memory.pinFrameList(f, k0, k);
        b.held += k - k0;
        this.failedAt = slot0 + k;
      }
      i = end;
    }
  }

  /** Removes one holder from pages [first, first + count); unpins and uncharges at zero. */
  unpin(first: number, count: number): void {
    const released = this.releaseHolders(first, count);
    this.npinned -= released;
    const forgotten = Math.min(released, this.unchargedPinned);
    this.unchargedPinned -= forgotten;
    this.accounting.uncharge(this.accountMode, released - forgotten);
  }

  /** Removes one holder from pages [first, first + count), unpinning at zero; returns how many went to zero. */
  private releaseHolders(first: number, count: number): number {
    let released = 0;
    const last = first + count;
    const off = this.slotOffset;
    for (let i = first; i < last; ) {
      const blockNo = Math.floor((i + off) / BLOCK_PAGES);
      const slot0 = blockNo * BLOCK_PAGES - off;
      const end = Math.min(last, slot0 + BLOCK_PAGES);
      const kEnd = end - slot0;
      const b = this.block(blockNo);
      if (b === undefined) throw new Error(`iopt_pages: unpin of unpinned page ${i}`);
      if (b.holders === null) {
        if (i === slot0 && kEnd === BLOCK_PAGES) {
          if (--b.uniformHolders === 0) {
            this.memory.unpinFrameRun(b.basePfn, BLOCK_PAGES);
            released += BLOCK_PAGES;
            this.dropBlock(blockNo);
          }
          i = end;
          continue;
        }
        expand(b);
      }
      const h = b.holders as Uint32Array;
      const f = b.frames as Int32Array;
      let n = 0;
      for (let k = i - slot0; k < kEnd; k++) {
        if (h[k] === 0) {
          // A reference bug: what was released so far is released, as one page at a time would.
          this.memory.unpinFrameList(releasedScratch, 0, n);
          throw new Error(`iopt_pages: unpin of unpinned page ${slot0 + k}`);
        }
        if (--h[k] === 0) {
          releasedScratch[n++] = f[k];
          f[k] = 0;
        }
      }
      this.memory.unpinFrameList(releasedScratch, 0, n);
      released += n;
      b.held -= n;
      if (b.held === 0) this.dropBlock(blockNo);
      i = end;
    }
    return released;
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
    const off = this.slotOffset;
    for (let i = first; i < last; ) {
      const blockNo = Math.floor((i + off) / BLOCK_PAGES);
      const slot0 = blockNo * BLOCK_PAGES - off;
      const end = Math.min(last, slot0 + BLOCK_PAGES);
      const b = this.block(blockNo);
      if (b === undefined) throw new Error(`iopt_pages: page ${i} is not pinned`);
      const f = b.frames;
      if (f === null) {
        const pfn = b.basePfn + (i - slot0);
        if (len > 0 && pfn === startPfn + len) len += end - i;
        else {
          if (len > 0) run(startIdx, startPfn, len);
          startIdx = i;
          startPfn = pfn;
          len = end - i;
        }
        i = end;
        continue;
      }
      for (; i < end; i++) {
        const pfn = f[i - slot0] - 1;
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
