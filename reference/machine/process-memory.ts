/**
 * The simulated process's memory: virtual memory areas (VMAs) over memory objects (anonymous
 * memory or memfd-like files), CPU reads and writes, and page pinning for DMA. Pages are 4 KiB;
 * a page gets a PhysicalMemory frame on its first CPU write or pin (reads of untouched pages see
 * zeros and allocate nothing), so a 64 GiB mapping costs nothing until touched. Anonymous blocks
 * of 2 MiB that lie wholly inside their mapping are backed by one 2 MiB-aligned run of frames on
 * first touch, as transparent huge pages are, so huge IOPTEs become possible.
 *
 * Hugetlb memory (MAP_HUGETLB, a memfd made with MFD_HUGETLB) is an object whose every 2 MiB
 * block is one aligned run of frames; its mappings are 2 MiB granular (mmap rounds the length
 * up, munmap may not split them elsewhere). A MAP_PRIVATE mapping of a file reads the file's
 * pages until the process writes a page, which then gets a private anonymous copy (COW); a
 * long-term pin unshares the same way first (gup_must_unshare), so a page pinned for DMA is
 * the one later CPU writes land in.
 *
 * User addresses are JS numbers: the process's address space is [USER_VA_START, 2^47), as an
 * x86-64 user space, so every address and length is exact. Pin counts belong to the physical
 * frames (`PinTable`, shared by every process of the machine), because a page shared by two
 * mappings of one file is one page with one count. A frame is freed when no mapping holds it and
 * its pin count is 0: pinned pages outlive munmap, as pinned pages do in Linux.
 *
 * Invariants: a VMA never overlaps another; every frame referenced by an object page or a pin
 * is allocated; pins never go negative (an unbalanced unpin throws — a reference bug).
 */

import { FrameBlocks } from './frame-blocks.ts';
import { FRAME_BYTES, PhysicalMemory } from './physical-memory.ts';

export const PAGE_SHIFT = 12;
export const PAGE_BYTES = 1 << PAGE_SHIFT;
export const USER_VA_START = 0x1000_0000;
export const USER_VA_END = 2 ** 47;
const BLOCK_SHIFT = 9;
const BLOCK_PAGES = 1 << BLOCK_SHIFT;
const MMAP_ALIGN = 2 * 1024 * 1024;
/** What clear() writes from. */
const ZERO_PAGE = new Uint8Array(PAGE_BYTES);
/** The hugetlb page size (x86-64 default hstate). */
export const HUGE_PAGE_BYTES = 2 * 1024 * 1024;

/** mmap(2) options beyond the length, the file and its offset. */
export interface MmapOptions {
  /** MAP_HUGETLB|MAP_POPULATE for anonymous memory: hugetlb pages, allocated at once. */
  huge?: boolean;
  /** MAP_PRIVATE for a file: copy-on-write instead of sharing the file's pages. */
  private?: boolean;
  /**
   * MAP_FIXED_NOREPLACE at this address (a mirror of a real process places its mappings where
   * that process has them): page aligned (2 MiB for hugetlb memory) or EINVAL, ENOMEM past the
   * user address space, EEXIST over an existing mapping.
   */
  addr?: number;
}

/** Anonymous memory or a memfd-like file: page index → frame, allocated lazily. */
export class MemoryObject {
  /** Block index → frames + 1 (0 = no frame yet); a 2 MiB run is kept as its first frame. */
  readonly blocks = new FrameBlocks();
  /** Number of VMAs mapping this object. */
  mapCount = 0;

  constructor(
    readonly kind: 'anon' | 'file',
    public sizeBytes: number,
    /** Hugetlb memory: allocated and mapped in whole 2 MiB pages. */
    readonly huge = false,
  ) {}

  private lastBlockNo = -1;
  private lastBlock: Int32Array | undefined;

  frameOf(pageIndex: number): number {
    const no = Math.floor(pageIndex / BLOCK_PAGES);
    const base = this.blocks.runBase(no);
    if (base >= 0) return base + (pageIndex & (BLOCK_PAGES - 1));
    let b: Int32Array | undefined;
    if (no === this.lastBlockNo) b = this.lastBlock;
    else {
      b = this.blocks.get(no);
      if (b !== undefined) {
        this.lastBlockNo = no;
        this.lastBlock = b;
      }
    }
    return b === undefined ? -1 : b[pageIndex & (BLOCK_PAGES - 1)] - 1;
  }

  /** Forgets the lookup cache (blocks were removed). */
  invalidateCache(): void {
    this.lastBlockNo = -1;
    this.lastBlock = undefined;
  }

  setFrame(pageIndex: number, pfn: number): void {
    let b = this.blocks.get(pageIndex >>> BLOCK_SHIFT);
    if (b === undefined) {
      b = new Int32Array(BLOCK_PAGES);
      this.blocks.set(pageIndex >>> BLOCK_SHIFT, b);
    }
    b[pageIndex & (BLOCK_PAGES - 1)] = pfn + 1;
  }

  get sizePages(): number {
    return Math.ceil(this.sizeBytes / PAGE_BYTES);
  }
}

export interface Vma {
  startVpn: number;
  pageCount: number;
  object: MemoryObject;
  /** Page index in `object` of the VMA's first page. */
  objectPage: number;
  /**
   * MAP_PRIVATE of a file: the private anonymous copies, indexed by file page (shared by the
   * pieces munmap splits the VMA into, which cover disjoint file pages).
   */
  cow?: MemoryObject;
}

export class ProcessMemory {
  /** Sorted by startVpn. */
  private readonly vmas: Vma[] = [];
  private nextVa = USER_VA_START;
  private lastVma: Vma | undefined;
  /** False once the process has exited: the kernel's mmget_not_zero on this mm fails. */
  live = true;

  constructor(readonly phys: PhysicalMemory) {}

  // ---- mappings ----

  /**
   * The errno mmap(2) gives for these arguments, or null (mm/mmap.c ksys_mmap_pgoff, do_mmap;
   * hugetlbfs_file_mmap): a zero length or a file offset off a page (a huge page for a hugetlb
   * file) is EINVAL, and so is MAP_HUGETLB with a file that is not hugetlb.
   */
  mmapError(lengthBytes: number, file?: MemoryObject, fileOffsetBytes = 0, options: MmapOptions = {}): string | null {
    if (!Number.isSafeInteger(lengthBytes) || lengthBytes <= 0) return 'EINVAL';
    if (options.addr !== undefined) {
      const huge = file === undefined ? options.huge === true : file.huge;
      const unitBytes = huge ? HUGE_PAGE_BYTES : PAGE_BYTES;
      if (!Number.isSafeInteger(options.addr) || options.addr % unitBytes !== 0) return 'EINVAL';
      const pageCount = Math.ceil(lengthBytes / unitBytes) * (unitBytes / PAGE_BYTES);
      if (options.addr + pageCount * PAGE_BYTES > USER_VA_END) return 'ENOMEM';
      if (this.overlapping(options.addr / PAGE_BYTES, pageCount) !== undefined) return 'EEXIST';
    }
    if (file === undefined) return null;
    if (options.huge === true && !file.huge) return 'EINVAL';
    if (!Number.isSafeInteger(fileOffsetBytes) || fileOffsetBytes % (file.huge ? HUGE_PAGE_BYTES : PAGE_BYTES) !== 0) return 'EINVAL';
    return null;
  }

  /**
   * Maps `lengthBytes` (rounded up to pages, or to 2 MiB for hugetlb memory) of a fresh
   * anonymous object, or of `file` from `fileOffsetBytes`, at a fresh 2 MiB-aligned address
   * with an unmapped guard gap before the next mapping. Returns the address; the caller has
   * checked the arguments with `mmapError`.
   */
  mmap(lengthBytes: number, file?: MemoryObject, fileOffsetBytes = 0, options: MmapOptions = {}): number {
    const bad = this.mmapError(lengthBytes, file, fileOffsetBytes, options);
    if (bad !== null) throw new RangeError(`mmap: ${bad}`);
    const huge = file === undefined ? options.huge === true : file.huge;
    if (huge && options.private === true) throw new RangeError('mmap: MAP_PRIVATE of hugetlb memory is not modelled');
    const unitBytes = huge ? HUGE_PAGE_BYTES : PAGE_BYTES;
    const pageCount = Math.ceil(lengthBytes / unitBytes) * (unitBytes / PAGE_BYTES);
    let addr = options.addr ?? this.nextVa;
    if (options.addr === undefined) {
      // Skip over mappings placed at fixed addresses.
      for (let v = this.overlapping(addr / PAGE_BYTES, pageCount); v !== undefined; v = this.overlapping(addr / PAGE_BYTES, pageCount)) {
        addr = Math.ceil(((v.startVpn + v.pageCount) * PAGE_BYTES + MMAP_ALIGN) / MMAP_ALIGN) * MMAP_ALIGN;
      }
    }
    const end = addr + pageCount * PAGE_BYTES;
    if (end > USER_VA_END) throw new RangeError('mmap: address space exhausted');
    if (options.addr === undefined) this.nextVa = Math.ceil((end + MMAP_ALIGN) / MMAP_ALIGN) * MMAP_ALIGN;
    // hugetlbfs_file_mmap: a writable mapping past the end of a hugetlb file grows the file
    // (every mapping here is PROT_READ | PROT_WRITE).
    if (file !== undefined && file.huge) file.sizeBytes = Math.max(file.sizeBytes, fileOffsetBytes + pageCount * PAGE_BYTES);
    const object = file ?? new MemoryObject('anon', pageCount * PAGE_BYTES, huge);
    object.mapCount++;
    const vma: Vma = { startVpn: addr / PAGE_BYTES, pageCount, object, objectPage: fileOffsetBytes / PAGE_BYTES };
    if (file !== undefined && options.private === true) vma.cow = new MemoryObject('anon', file.sizeBytes);
    const at = this.vmas.findIndex((v) => v.startVpn > vma.startVpn);
    this.vmas.splice(at < 0 ? this.vmas.length : at, 0, vma);
    // MAP_POPULATE: hugetlb memory the selftests map is faulted in at mmap time. Without enough
    // free huge pages the mmap fails with ENOMEM (hugetlb_reserve_pages) and leaves nothing.
    if (file === undefined && huge) {
      try {
        for (let p = 0; p < pageCount; p += BLOCK_PAGES) this.objectFrame(object, p);
      } catch (e) {
        this.vmas.splice(this.vmas.indexOf(vma), 1);
        this.lastVma = undefined;
        if (options.addr === undefined) this.nextVa = addr;
        this.dropObjectPages(object, 0, pageCount);
        throw e;
      }
    }
    return addr;
  }

  /**
   * munmap(2): EINVAL for a misaligned address or zero length, or when it would split a
   * hugetlb mapping off a 2 MiB boundary (hugetlb_vm_op_split); unmapped parts are fine.
   */
  munmap(addr: number, lengthBytes: number): string | null {
    if (addr % PAGE_BYTES !== 0 || lengthBytes <= 0 || addr + lengthBytes > USER_VA_END) return 'EINVAL';
    const startVpn = addr / PAGE_BYTES;
    const endVpn = Math.ceil((addr + lengthBytes) / PAGE_BYTES);
    for (const cut of [startVpn, endVpn]) {
      const v = this.vmaAt(cut);
      if (v !== undefined && v.startVpn !== cut && v.object.huge && cut % BLOCK_PAGES !== 0) return 'EINVAL';
    }
    const kept: Vma[] = [];
    this.lastVma = undefined;
    for (const v of this.vmas) {
      const vEnd = v.startVpn + v.pageCount;
      if (vEnd <= startVpn || v.startVpn >= endVpn) {
        kept.push(v);
        continue;
      }
      const cutStart = Math.max(v.startVpn, startVpn);
      const cutEnd = Math.min(vEnd, endVpn);
      if (v.startVpn < cutStart) {
        kept.push({ ...v, pageCount: cutStart - v.startVpn });
        v.object.mapCount++;
      }
      if (cutEnd < vEnd) {
        kept.push({ ...v, startVpn: cutEnd, pageCount: vEnd - cutEnd, objectPage: v.objectPage + (cutEnd - v.startVpn) });
        v.object.mapCount++;
      }
      v.object.mapCount--;
      if (v.object.kind === 'anon') this.dropObjectPages(v.object, v.objectPage + (cutStart - v.startVpn), cutEnd - cutStart);
      if (v.cow !== undefined) this.dropObjectPages(v.cow, v.objectPage + (cutStart - v.startVpn), cutEnd - cutStart);
      else if (v.object.mapCount === 0 && v.object.kind === 'file') {
        /* a file keeps its pages while its fd lives; fileClosed() drops them */
      }
    }
    this.vmas.length = 0;
    this.vmas.push(...kept.sort((a, b) => a.startVpn - b.startVpn));
    return null;
  }

  /** Releases the pages of an object range: frames go back unless pinned (then orphaned). */
  dropObjectPages(object: MemoryObject, firstPage: number, count: number): void {
    for (const [blockNo, frames] of object.blocks) {
      const blockFirst = blockNo * BLOCK_PAGES;
      if (blockFirst + BLOCK_PAGES <= firstPage || blockFirst >= firstPage + count) continue;
      let live = 0;
      for (let i = 0; i < BLOCK_PAGES; i++) {
        const page = blockFirst + i;
        if (frames[i] === 0) continue;
        if (page < firstPage || page >= firstPage + count) {
          live++;
          continue;
        }
        this.releaseFrame(frames[i] - 1);
        frames[i] = 0;
      }
      if (live === 0) object.blocks.delete(blockNo);
    }
    object.invalidateCache();
  }

  private releaseFrame(pfn: number): void {
    this.phys.pins.release(pfn);
  }

  /** The first VMA meeting [vpn, vpn + count), or undefined. */
  private overlapping(vpn: number, count: number): Vma | undefined {
    return this.vmas.find((v) => v.startVpn < vpn + count && vpn < v.startVpn + v.pageCount);
  }

  /** The VMA containing `vpn`, or undefined. O(log n). */
  vmaAt(vpn: number): Vma | undefined {
    const c = this.lastVma;
    if (c !== undefined && vpn >= c.startVpn && vpn < c.startVpn + c.pageCount) return c;
    let lo = 0;
    let hi = this.vmas.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.vmas[mid];
      if (vpn < v.startVpn) hi = mid - 1;
      else if (vpn >= v.startVpn + v.pageCount) lo = mid + 1;
      else {
        this.lastVma = v;
        return v;
      }
    }
    return undefined;
  }

  /** True when every page of [vpn, vpn + count) is mapped (and, for files, inside the file). */
  isMapped(vpn: number, count: number): boolean {
    let p = vpn;
    while (p < vpn + count) {
      const v = this.vmaAt(p);
      if (v === undefined) return false;
      const end = Math.min(v.startVpn + v.pageCount, vpn + count);
      if (v.object.kind === 'file' && v.objectPage + (end - v.startVpn) > v.object.sizePages) return false;
      p = end;
    }
    return true;
  }

  /** The frame behind object page `page`, allocating it (2 MiB runs for whole anon blocks). */
  objectFrame(object: MemoryObject, page: number): number {
    const pfn = object.frameOf(page);
    if (pfn >= 0) return pfn;
    const blockFirst = page & ~(BLOCK_PAGES - 1);
    // Hugetlb objects are whole 2 MiB pages (their size is a multiple of 2 MiB).
    const wholeBlock = object.huge || (object.kind === 'anon' && blockFirst + BLOCK_PAGES <= object.sizePages);
    if (wholeBlock && object.blocks.get(page >>> BLOCK_SHIFT) === undefined) {
      // Without a free 2 MiB run a THP fault falls back to a 4 KiB page; hugetlb has no fallback.
      if (object.huge || this.phys.canAllocFrames(BLOCK_PAGES, BLOCK_PAGES)) {
        const base = this.phys.allocFrames(BLOCK_PAGES, BLOCK_PAGES);
        object.blocks.setRun(page >>> BLOCK_SHIFT, base);
        return base + (page - blockFirst);
      }
    }
    const single = this.phys.allocFrames(1, 1);
    object.setFrame(page, single);
    return single;
  }

  /**
   * Writes pfn + 1 of object pages [page, page + count) into `out` from `outOffset`,
   * allocating missing frames in ascending page order exactly as `objectFrame` page by page
   * would (so frame numbers do not depend on the batch size).
   */
  objectFramesInto(object: MemoryObject, page: number, count: number, out: Int32Array, outOffset: number): void {
    let i = 0;
    while (i < count) {
      const blockNo = Math.floor((page + i) / BLOCK_PAGES);
      const end = Math.min(count, (blockNo + 1) * BLOCK_PAGES - page);
      let base = object.blocks.runBase(blockNo);
      if (base < 0 && !object.blocks.has(blockNo)) {
        // The first page decides how the block is backed (a 2 MiB run or single frames).
        out[outOffset + i] = this.objectFrame(object, page + i) + 1;
        i++;
        base = object.blocks.runBase(blockNo);
      }
      if (base >= 0) {
        // A 2 MiB run: its frames are known without making its per-page array.
        const first = base + ((page + i) & (BLOCK_PAGES - 1)) + 1;
        for (let j = 0; i < end; i++, j++) out[outOffset + i] = first + j;
        continue;
      }
      const b = object.blocks.get(blockNo) as Int32Array;
      // Copy the block's frames at once, then fill the holes in ascending page order.
      const k0 = (page + i) & (BLOCK_PAGES - 1);
      out.set(b.subarray(k0, k0 + (end - i)), outOffset + i);
      for (; i < end; i++) {
        if (out[outOffset + i] === 0) out[outOffset + i] = this.objectFrame(object, page + i) + 1;
      }
    }
  }

  /**
   * The first frame of object pages [page, page + count) when they are one whole block kept as
   * a run of consecutive frames (a THP or hugetlb page), allocating the block as the first page
   * of a pin would; -1 otherwise, and then the caller resolves page by page (objectFramesInto)
   * and gets the same frames it would have got without asking.
   */
  objectFrameRun(object: MemoryObject, page: number, count: number): number {
    if (count !== BLOCK_PAGES || (page & (BLOCK_PAGES - 1)) !== 0) return -1;
    const no = page / BLOCK_PAGES;
    const base = object.blocks.runBase(no);
    if (base >= 0 || object.blocks.has(no)) return base;
    this.objectFrame(object, page);
    return object.blocks.runBase(no);
  }

  /**
   * objectFrameRun for user pages [vpn, vpn + count) of one anonymous mapping (a file mapping
   * may need per-page treatment, so it answers -1). The caller has checked they are mapped.
   */
  userFrameRun(vpn: number, count: number): number {
    const v = this.vmaAt(vpn);
    if (v === undefined || v.object.kind !== 'anon' || vpn + count > v.startVpn + v.pageCount) return -1;
    return this.objectFrameRun(v.object, v.objectPage + (vpn - v.startVpn), count);
  }

  /**
   * Writes pfn + 1 of user pages [vpn, vpn + count) into `out` from `outOffset`, allocating.
   * The caller has checked that the range is mapped (isMapped).
   */
  userFramesInto(vpn: number, count: number, out: Int32Array, outOffset: number): void {
    let p = vpn;
    const last = vpn + count;
    while (p < last) {
      const v = this.vmaAt(p);
      if (v === undefined) throw new Error(`userFramesInto: page 0x${p.toString(16)} is not mapped`);
      const end = Math.min(v.startVpn + v.pageCount, last);
      const firstPage = v.objectPage + (p - v.startVpn);
      if (v.cow === undefined) this.objectFramesInto(v.object, firstPage, end - p, out, outOffset + (p - vpn));
      else for (let i = 0; i < end - p; i++) out[outOffset + (p - vpn) + i] = this.pinnableFrame(v, firstPage + i) + 1;
      p = end;
    }
  }

  /**
   * The frame behind user page `vpn`; -1 if unmapped. `allocate` is a write fault: it
   * allocates a missing frame and gives a private file mapping's page its own copy.
   */
  frameForVpn(vpn: number, allocate: boolean): number {
    const v = this.vmaAt(vpn);
    if (v === undefined) return -1;
    const page = v.objectPage + (vpn - v.startVpn);
    if (v.object.kind === 'file' && page >= v.object.sizePages) return -1;
    if (v.cow !== undefined) {
      if (allocate) return this.unshare(v, page);
      const copy = v.cow.frameOf(page);
      return copy >= 0 ? copy : v.object.frameOf(page);
    }
    return allocate ? this.objectFrame(v.object, page) : v.object.frameOf(page);
  }

  /**
   * The private copy of file page `page` of a MAP_PRIVATE VMA, made now if the process has
   * none yet: a fresh anonymous frame holding what the file page holds (wp_page_copy).
   */
  private unshare(v: Vma, page: number): number {
    const cow = v.cow!;
    const copy = cow.frameOf(page);
    if (copy >= 0) return copy;
    const pfn = this.phys.allocFrames(1, 1);
    const shared = v.object.frameOf(page);
    if (shared >= 0) this.phys.copyFrame(shared, pfn);
    cow.setFrame(page, pfn);
    return pfn;
  }

  /**
   * The frame a FOLL_LONGTERM pin of file page `page` of a MAP_PRIVATE VMA gets. GUP unshares
   * such a page even for a read-only pin (gup_must_unshare: a R/O long-term pin of a page of a
   * COW mapping breaks COW early), so the pin holds the anonymous copy that later CPU writes
   * go to, not the file's page that the next write would leave behind.
   */
  pinnableFrame(v: Vma, page: number): number {
    return this.unshare(v, page);
  }

  // ---- CPU access ----

  /** A CPU read; null (EFAULT) if any byte is unmapped. Untouched pages read as zeros. */
  read(addr: number, lengthBytes: number): Uint8Array | null {
    if (!this.rangeOk(addr, lengthBytes)) return null;
    if (lengthBytes === 0) return new Uint8Array(0);
    // Checked before the buffer is made: an unmapped range of any claimed length costs nothing.
    if (!this.isMapped(Math.floor(addr / PAGE_BYTES), this.pageSpan(addr, lengthBytes))) return null;
    const out = new Uint8Array(lengthBytes);
    let done = 0;
    while (done < lengthBytes) {
      const a = addr + done;
      const off = a % PAGE_BYTES;
      const chunk = Math.min(lengthBytes - done, PAGE_BYTES - off);
      const pfn = this.frameForVpn(Math.floor(a / PAGE_BYTES), false);
      if (pfn >= 0) out.set(this.phys.readBytes(pfn * FRAME_BYTES + off, chunk), done);
      done += chunk;
    }
    return out;
  }

  /** A CPU write; false (EFAULT) if any byte is unmapped — then nothing is written. */
  write(addr: number, data: Uint8Array): boolean {
    if (!this.rangeOk(addr, data.length)) return false;
    if (data.length === 0) return true;
    if (!this.isMapped(Math.floor(addr / PAGE_BYTES), this.pageSpan(addr, data.length))) return false;
    // Fault every page in before writing any (OutOfMemory then leaves the content untouched).
    const firstVpn = Math.floor(addr / PAGE_BYTES);
    for (let i = 0, n = this.pageSpan(addr, data.length); i < n; i++) this.frameForVpn(firstVpn + i, true);
    let done = 0;
    while (done < data.length) {
      const a = addr + done;
      const off = a % PAGE_BYTES;
      const chunk = Math.min(data.length - done, PAGE_BYTES - off);
      const pfn = this.frameForVpn(Math.floor(a / PAGE_BYTES), true);
      this.phys.writeBytes(pfn * FRAME_BYTES + off, data.subarray(done, done + chunk));
      done += chunk;
    }
    return true;
  }

  /** Whether every byte of [addr, addr + length) is mapped. */
  mapped(addr: number, lengthBytes: number): boolean {
    if (!this.rangeOk(addr, lengthBytes)) return false;
    return lengthBytes === 0 || this.isMapped(Math.floor(addr / PAGE_BYTES), this.pageSpan(addr, lengthBytes));
  }

  /**
   * A CPU write of zeros (clear_user); false (EFAULT) if any byte is unmapped — then nothing is
   * written. A page with no frame already reads as zeros and is left so (no frame is made for
   * it, so a claimed length costs no memory); a private file page gets its own copy first, as a
   * write would.
   */
  clear(addr: number, lengthBytes: number): boolean {
    if (!this.mapped(addr, lengthBytes)) return false;
    let done = 0;
    while (done < lengthBytes) {
      const a = addr + done;
      const off = a % PAGE_BYTES;
      const chunk = Math.min(lengthBytes - done, PAGE_BYTES - off);
      const vpn = Math.floor(a / PAGE_BYTES);
      const v = this.vmaAt(vpn)!;
      const pfn = v.cow !== undefined ? this.frameForVpn(vpn, true) : this.frameForVpn(vpn, false);
      if (pfn >= 0) this.phys.writeBytes(pfn * FRAME_BYTES + off, ZERO_PAGE.subarray(0, chunk));
      done += chunk;
    }
    return true;
  }

  private rangeOk(addr: number, lengthBytes: number): boolean {
    return Number.isSafeInteger(addr) && addr >= 0 && Number.isSafeInteger(lengthBytes) && lengthBytes >= 0 && addr + lengthBytes <= USER_VA_END;
  }

  private pageSpan(addr: number, lengthBytes: number): number {
    return Math.floor((addr + lengthBytes - 1) / PAGE_BYTES) - Math.floor(addr / PAGE_BYTES) + 1;
  }

  // ---- pins ----

  pinCount(pfn: number): number {
    return this.phys.pins.get(pfn);
  }

  pin(pfn: number): void {
    this.phys.pins.add(pfn, 1);
  }

  unpin(pfn: number): void {
    this.phys.pins.unpin(pfn);
  }

  /** Pins frames `list[j] - 1` for j in [from, to) (pfn + 1 encoding, as object blocks keep). */
  pinFrameList(list: Int32Array, from: number, to: number): void {
    this.phys.pins.addList(list, from, to, 1);
  }

  /** Unpins frames `list[j] - 1` for j in [from, to); frees orphans whose count reaches 0. */
  unpinFrameList(list: Int32Array, from: number, to: number): void {
    this.phys.pins.unpinList(list, from, to);
  }

  /** Pins the physically consecutive frames [pfn, pfn + count) (a whole 2 MiB run: one step). */
  pinFrameRun(pfn: number, count: number): void {
    this.phys.pins.addRun(pfn, count, 1);
  }

  /** Unpins frames [pfn, pfn + count); frees orphans whose count reaches 0. */
  unpinFrameRun(pfn: number, count: number): void {
    this.phys.pins.unpinRun(pfn, count);
  }

  /** Frames pinned by anyone (leak checks). */
  get pinnedFrames(): number {
    return this.phys.pins.pinnedFrames;
  }

  /** Pin counts of the user pages of [addr, addr + length): 0 for untouched or unmapped pages. */
  refs(addr: number, lengthBytes: number): number[] {
    const first = Math.floor(addr / PAGE_BYTES);
    const count = lengthBytes === 0 ? 0 : this.pageSpan(addr, lengthBytes);
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const pfn = this.frameForVpn(first + i, false);
      out.push(pfn < 0 ? 0 : this.phys.pins.get(pfn));
    }
    return out;
  }

  /**
   * The pages (vpns, ascending) whose frame is in `frames`: the user pages behind frames that
   * were written. Skips whole 2 MiB blocks that have no frame or whose run holds none of them,
   * so that a large mapping costs per block, not per page.
   */
  pagesBackedBy(frames: ReadonlySet<number>): number[] {
    const out: number[] = [];
    if (frames.size === 0) return out;
    const sorted = Float64Array.from(frames).sort();
    const anyIn = (lo: number, hi: number): boolean => {
      let a = 0;
      let b = sorted.length;
      while (a < b) {
        const m = (a + b) >> 1;
        if (sorted[m] < lo) a = m + 1;
        else b = m;
      }
      return a < sorted.length && sorted[a] < hi;
    };
    for (const v of this.vmas) {
      for (let i = 0; i < v.pageCount; ) {
        const objPage = v.objectPage + i;
        const blockNo = Math.floor(objPage / BLOCK_PAGES);
        const n = Math.min(v.pageCount - i, (blockNo + 1) * BLOCK_PAGES - objPage);
        const base = v.object.blocks.runBase(blockNo);
        const skip = v.cow === undefined && (base >= 0 ? !anyIn(base + (objPage % BLOCK_PAGES), base + (objPage % BLOCK_PAGES) + n) : v.object.blocks.get(blockNo) === undefined);
        if (!skip) {
          for (let k = 0; k < n; k++) {
            const pfn = this.frameForVpn(v.startVpn + i + k, false);
            if (pfn >= 0 && frames.has(pfn)) out.push(v.startVpn + i + k);
          }
        }
        i += n;
      }
    }
    return out;
  }

  /** Every VMA (for STATE dumps). */
  mappings(): readonly Vma[] {
    return this.vmas;
  }

  // ---- fork ----

  /**
   * fork(2): the child's address space, at the same addresses. File mappings share their
   * object; anonymous memory is copied where it has frames (Linux copies pinned anonymous pages
   * at fork and shares the others copy-on-write: either way the child sees the content of this
   * moment, and later writes on either side stay on that side).
   */
  fork(): ProcessMemory {
    const child = new ProcessMemory(this.phys);
    child.nextVa = this.nextVa;
    const copies = new Map<MemoryObject, MemoryObject>();
    const copyOf = (from: MemoryObject): MemoryObject => {
      let copy = copies.get(from);
      if (copy === undefined) {
        copy = child.copyAnon(from);
        copies.set(from, copy);
      }
      return copy;
    };
    try {
      for (const v of this.vmas) {
        // Anonymous memory and the private copies of a MAP_PRIVATE file are the process's own:
        // the child gets their content, not the pages (a later write on either side stays there).
        const object = v.object.kind === 'anon' ? copyOf(v.object) : v.object;
        object.mapCount++;
        const vma: Vma = { ...v, object };
        if (v.cow !== undefined) vma.cow = copyOf(v.cow);
        child.vmas.push(vma);
      }
    } catch (e) {
      // fork fails with ENOMEM when the copies do not fit: the frames copied so far go back.
      for (const copy of copies.values()) child.dropObjectPages(copy, 0, Number.MAX_SAFE_INTEGER);
      for (const v of child.vmas) if (v.object.kind === 'file') v.object.mapCount--;
      throw e;
    }
    return child;
  }

  /** A fresh anonymous object with the content of every page of `from` that has a frame. */
  private copyAnon(from: MemoryObject): MemoryObject {
    const copy = new MemoryObject('anon', from.sizeBytes, from.huge);
    try {
      for (const [blockNo, frames] of from.blocks) {
        for (let i = 0; i < BLOCK_PAGES; i++) {
          if (frames[i] === 0) continue;
          this.phys.copyFrame(frames[i] - 1, this.objectFrame(copy, blockNo * BLOCK_PAGES + i));
        }
      }
    } catch (e) {
      this.dropObjectPages(copy, 0, Number.MAX_SAFE_INTEGER);
      throw e;
    }
    return copy;
  }
}
