/**
 * iommufd_access: an in-kernel user of an IOAS (emulated devices, mdev), exercised through test
 * hooks as the kernel selftest does (CREATE_ACCESS, ACCESS_PAGES, ACCESS_RW, …). It pins IOVA
 * ranges (one holder on each page of the areas it covers), reads and writes through them, and
 * must drop its pins when an UNMAP notifies it (selftest access unmap callback).
 *
 * Invariants: every pin item records exactly the (area, page range) pieces it holds, so unpin
 * releases exactly what pin took; `area.accessPins` counts the pieces held in that area; an
 * access that needs page pinning raises its IOAS's alignment to PAGE_SIZE.
 */

import { PAGE_BYTES } from '../machine/process-memory.ts';
import type { ProcessMemory } from '../machine/process-memory.ts';
import { check } from './errors.ts';
import type { AccessLink, Area, PagesPosition } from './io-pagetable.ts';
import { IoPagetable, ULONG_MAX } from './io-pagetable.ts';
import type { IoasObject } from './objects.ts';
import { IommufdObject } from './objects.ts';

/** MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES. */
export const ACCESS_NEEDS_PIN_PAGES = 1 << 0;
/** The selftest's ACCESS_PAGES refuses more than 16 MiB. */
export const ACCESS_PAGES_MAX_BYTES = 16 * 1024 * 1024;

interface PinPiece {
  area: Area;
  firstPage: number;
  pageCount: number;
}

interface PinItem {
  iova: bigint;
  length: bigint;
  pieces: PinPiece[];
}

export class AccessObject extends IommufdObject implements AccessLink {
  readonly kind = 'ACCESS';
  ioas: IoasObject | null = null;
  readonly iovaAlignment: number;
  readonly items = new Map<number, PinItem>();
  private nextItemId: number;

  constructor(
    readonly flags: number,
    readonly memory: ProcessMemory,
    /**
     * The first pin item id: the selftest's kzalloc'ed selftest_access counts from 0 (what
     * IOMMU_TEST_CMD answers); the ACCESS_PIN hook's pages_id, an object-id-like value, from 1.
     */
    firstItemId = 1,
  ) {
    super();
    this.nextItemId = firstItemId;
    this.iovaAlignment = flags & ACCESS_NEEDS_PIN_PAGES ? PAGE_BYTES : 1;
    this.users = 1; // held by its driver (the test fd) until DESTROY_ACCESS
  }

  get needsPinPages(): boolean {
    return (this.flags & ACCESS_NEEDS_PIN_PAGES) !== 0;
  }

  private iopt(): IoPagetable {
    check(this.ioas !== null, 'ENOENT', 'access has no IOAS');
    return this.ioas.iopt;
  }

  /**
   * The walk pin and rw share (iommufd_access_pin_pages, iommufd_access_rw): the areas back to
   * back from `iova` up to the first gap. Linux checks and acts on each area in turn (EINVAL
   * while it is being unmapped, EPERM for its protection, then the pin or the copy, which can
   * fail on its own) and only after the walk fails with ENOENT when it stopped short.
   */
  private walk(iova: bigint, length: bigint): { areas: Area[]; complete: boolean; last: bigint } {
    check(length !== 0n, 'EINVAL', 'length 0');
    const last = iova + length - 1n;
    check(last <= ULONG_MAX, 'EOVERFLOW', 'iova + length overflows');
    return { ...this.iopt().contigPrefix(iova, last), last };
  }

  private static checkArea(a: Area, write: boolean): void {
    check(!a.preventAccess, 'EINVAL', 'area is being unmapped');
    check(write ? a.prot.write : a.prot.read, 'EPERM', 'area protection');
  }

  /** iommufd_access_pin_pages; returns the pin item id (ACCESS_PAGES out_access_pages_id). */
  pin(iova: bigint, length: bigint, write: boolean): number {
    check(this.needsPinPages, 'EOPNOTSUPP', 'access was created without page pinning');
    const { areas, complete, last } = this.walk(iova, length);
    const pieces: PinPiece[] = [];
    const done: PinPiece[] = [];
    try {
      for (const [i, a] of areas.entries()) {
        AccessObject.checkArea(a, write);
        const from = i === 0 ? iova : a.start;
        const to = last < a.last ? last : a.last;
        const first = IoPagetable.pagesPosition(a, from);
        const lastAt = IoPagetable.pagesPosition(a, to);
        if (i > 0) check(first.pageOffsetBytes === 0, 'EINVAL', 'areas do not join at a page boundary');
        if (i < areas.length - 1) check(lastAt.pageOffsetBytes === PAGE_BYTES - 1, 'EINVAL', 'areas do not join at a page boundary');
        const p: PinPiece = { area: a, firstPage: first.pageIndex, pageCount: lastAt.pageIndex - first.pageIndex + 1 };
        // An area another access already pins has (at least part of) the range in the pinned
        // xarray; the reference does not track which pages, so it counts pages_to_xarray only
        // for an area no access pins yet or when new pages are pinned.
        p.area.pages.pin(p.firstPage, p.pageCount, true, a.accessPins > 0);
        done.push(p);
        pieces.push(p);
      }
      check(complete, 'ENOENT', 'range not fully mapped');
    } catch (e) {
      for (const p of done) p.area.pages.unpin(p.firstPage, p.pageCount);
      throw e;
    }
    for (const p of pieces) p.area.accessPins++;
    const id = this.nextItemId++;
    this.items.set(id, { iova, length, pieces });
    return id;
  }

  /** The frames item `itemId` holds, page by page in IOVA order (the page list ACCESS_PAGES returns). */
  itemFrames(itemId: number): number[] {
    const item = this.items.get(itemId);
    if (item === undefined) throw new Error(`no access pages item ${itemId}`);
    return item.pieces.flatMap((p) => Array.from({ length: p.pageCount }, (_, i) => p.area.pages.frameAt(p.firstPage + i)));
  }

  /** DESTROY_ACCESS_PAGES: ENOENT for an unknown item. */
  unpinItem(itemId: number): void {
    const item = this.items.get(itemId);
    check(item !== undefined, 'ENOENT', `no access pages item ${itemId}`);
    this.releaseItem(itemId, item);
  }

  private releaseItem(itemId: number, item: PinItem): void {
    for (const p of item.pieces) {
      p.area.pages.unpin(p.firstPage, p.pageCount);
      p.area.accessPins--;
    }
    this.items.delete(itemId);
  }

  /** The selftest access's unmap callback: drop every item intersecting the range. */
  notifyUnmap(iova: bigint, lengthBytes: bigint): void {
    const last = iova + lengthBytes - 1n;
    for (const [id, item] of [...this.items]) {
      const itemLast = item.iova + item.length - 1n;
      if (item.iova <= last && iova <= itemLast) this.releaseItem(id, item);
    }
  }

  releaseAll(): void {
    for (const [id, item] of [...this.items]) this.releaseItem(id, item);
  }

  /**
   * iommufd_access_rw. Which memory a user-backed area is copied through depends on the path
   * pages.c iopt_pages_rw_access takes: the fast path (and the one-page slow path, which pins
   * the page at the VA again) copies through whatever is mapped at the VA now; the multi-page
   * slow path (`slowPath`, the selftest's MOCK_ACCESS_RW_SLOW_PATH) reads the PFNs the pages
   * hold (access or domain pins) and pins the VA only for pages nobody holds. File-backed areas
   * always take the slow path. The two differ only once the VA no longer maps the pinned pages.
   * The kernel takes the slow paths too when the caller's mm is not the one the mapping was made
   * in (`caller`, the calling process's memory), and the one-page path falls back to the
   * multi-page one when that mm is gone (mmget_not_zero fails).
   */
  rw(iova: bigint, length: bigint, data: Uint8Array | null, write: boolean, slowPath = false, caller: ProcessMemory = this.memory): Uint8Array {
    const { areas, complete, last } = this.walk(iova, length);
    const out = new Uint8Array(write ? 0 : Number(length));
    let done = 0;
    // Each area is copied as it is visited: a write into the areas before a gap stays written
    // when the walk then fails with ENOENT, as in Linux.
    for (const [i, a] of areas.entries()) {
      AccessObject.checkArea(a, write);
      const from = i === 0 ? iova : a.start;
      const to = last < a.last ? last : a.last;
      const bytes = Number(to - from + 1n);
      const at = IoPagetable.pagesPosition(a, from);
      const chunk = write ? data!.subarray(done, done + bytes) : null;
      const onePage = at.pageOffsetBytes + bytes <= PAGE_BYTES;
      const source = a.pages.memory;
      const changeMm = slowPath || source !== caller;
      // iopt_pages_rw_page (one page of another live mm) has a fail_iommufd point before it
      // pins the page: EINVAL (pages.c).
      if (changeMm && onePage && source.live && a.pages.source.kind === 'user') a.pages.failNth?.point('iopt_pages_rw_page', 'EINVAL');
      const got = this.pagesRw(a, at, bytes, chunk, changeMm && (!onePage || !source.live));
      if (got !== null) out.set(got, done);
      done += bytes;
    }
    check(complete, 'ENOENT', 'range not fully mapped');
    return out;
  }

  /** Copies one area's slice; `heldPfnsFirst` selects the multi-page slow path (see rw). */
  private pagesRw(a: Area, at: PagesPosition, bytes: number, data: Uint8Array | null, heldPfnsFirst: boolean): Uint8Array | null {
    const pages = a.pages;
    // The mm the mapping was made in (source_mm), not the caller's: another process's mapping
    // is read remotely, and one whose process is gone faults unless its pages are pinned.
    const memory = pages.memory;
    const out = data === null ? new Uint8Array(bytes) : null;
    let done = 0;
    while (done < bytes) {
      // Bytes from the start of the page `at` names: `bytes` is a buffer's length, so exact.
      const byte = at.pageOffsetBytes + done;
      const index = at.pageIndex + Math.floor(byte / PAGE_BYTES);
      const off = byte % PAGE_BYTES;
      const chunk = Math.min(bytes - done, PAGE_BYTES - off);
      const src = pages.source;
      let pfn = src.kind === 'user' && !heldPfnsFirst ? -1 : pages.frameAt(index);
      if (pfn < 0) {
        if (src.kind === 'user') {
          const va = (src.startVpn + index) * PAGE_BYTES + off;
          if (data !== null) check(memory.write(va, data.subarray(done, done + chunk)), 'EFAULT', 'user memory gone');
          else {
            const got = memory.read(va, chunk);
            check(got !== null, 'EFAULT', 'user memory gone');
            out!.set(got, done);
          }
          done += chunk;
          continue;
        }
        check(src.startPage + index < src.file.sizePages, 'EFAULT', 'file page gone');
        pfn = memory.objectFrame(src.file, src.startPage + index);
      }
      const phys = pfn * PAGE_BYTES + off;
      if (data !== null) memory.phys.writeBytes(phys, data.subarray(done, done + chunk));
      else out!.set(memory.phys.readBytes(phys, chunk), done);
      done += chunk;
    }
    return out;
  }

  describe(): Record<string, unknown> {
    return {
      ioas: this.ioas?.id ?? null,
      flags: this.flags,
      items: [...this.items].map(([id, it]) => ({ id, iova: `0x${it.iova.toString(16)}`, length: `0x${it.length.toString(16)}` })),
    };
  }
}
