/**
 * The io_pagetable of one IOAS (io_pagetable.c): mapped areas, reserved ranges, the user's
 * allowed list, the paging domains the IOAS is mirrored into, the accesses attached to it, and
 * the IOVA alignment they impose.
 *
 * IOVAs here are bigint. This is the control plane: every operation does O(log n) area lookups
 * plus work proportional to the areas it touches, never to the bytes it covers, so a bigint per
 * comparison is cheap and keeps the full 64-bit space exact (2^64−1 is a valid `last`).
 * Everything done per page — pins, charges, frames, page-table entries — works on JS-number
 * page indices in pages.ts and in the formats. An area's byte extent is exactly
 * [start, last]; its `lengthBytes` is a JS number for the per-page paths, exact below 2^53 —
 * always so for an area that can hold pins, since no address space or file backs 2^53 bytes.
 * Where `start` lies in the pages is kept as Linux keeps it, a page index plus a byte offset in
 * that page (iopt_area_index, area->page_offset): both are exact JS numbers for any store (fewer
 * than 2^52 pages), so COPY slices and splits far into an area keep the exact address. A MAP of
 * 2^53 bytes or more without a domain is an area like any other (Linux accepts it: nothing is
 * pinned until a domain or an access needs pages); sums of unmapped bytes, alignment checks and
 * page indices of such an area come from the bigint bounds and `pagesPosition`. Areas live in
 * a balanced search tree (range-tree.ts: O(log n) insert, delete, first-intersecting and
 * successor), so MAP and UNMAP cost O(log n)
 * per area touched however many areas the IOAS holds, and `extents` (another such tree) merges
 * touching areas so that automatic allocation steps over a packed region at once instead of
 * area by area. Reserved and allowed ranges stay small arrays: a handful per IOAS (apertures,
 * device reserved regions, the user's allowed list), replaced or scanned whole.
 *
 * Invariants: areas never overlap and are sorted by start; `extents` is exactly the union of
 * the areas, touching ranges merged; every area of an IOAS that has at
 * least one domain holds one pin on its pages range (`filled`) and is mapped in every domain's
 * table; an area with `accessPins > 0` is never removed (unmap first notifies the accesses).
 * Every mutating method checks everything before it changes anything, except where Linux
 * itself stops midway (UNMAP of several areas), which is documented there.
 */

import { PAGE_BYTES } from '../machine/process-memory.ts';
import type { PagingDomain, Prot } from './domain.ts';
import { check, fail, UapiError } from './errors.ts';
import type { IoptPages } from './pages.ts';
import { FailNth } from './fail-nth.ts';
import { RangeTree, UNLINKED } from './range-tree.ts';
import type { RangeLinks } from './range-tree.ts';

export const U64_MAX = (1n << 64n) - 1n;
/** unsigned long on a 64-bit kernel. */
export const ULONG_MAX = U64_MAX;
export const PAGE_SIZE = BigInt(PAGE_BYTES);
/** HPAGE_SIZE on x86-64 with THP: the cap of automatic IOVA alignment. */
export const HPAGE_SIZE = 2n * 1024n * 1024n;

/** An area is its own node in the area tree (range-tree.ts: intrusive links). */
export interface Area extends RangeLinks {
  start: bigint;
  last: bigint;
  pages: IoptPages;
  /** iopt_area_index: the page of `pages` the byte `start` maps lies in. */
  firstPageIndex: number;
  /** area->page_offset: the offset of that byte in its page (< PAGE_BYTES). */
  pageOffsetBytes: number;
  /** last − start + 1 as a JS number: exact below 2^53 (see the file header). */
  lengthBytes: number;
  prot: Prot;
  /** Holds one pin on its page range for the domains (the IOAS has ≥ 1 domain). */
  filled: boolean;
  /** iopt_area.num_accesses: access pins inside this area. */
  accessPins: number;
  /** iopt_area.num_locks: pins of internal accesses (a HW queue's memory); UNMAP is EBUSY while > 0. */
  locks?: number;
  preventAccess: boolean;
}

export type ReservedOwner = object | null;

export interface Reserved {
  start: bigint;
  last: bigint;
  owner: ReservedOwner;
}

export interface IovaRange {
  start: bigint;
  last: bigint;
}

/** What the io_pagetable needs from an attached access (iommufd_access). */
export interface AccessLink {
  iovaAlignment: number;
  /** access->ops->unmap: must drop every pin the access holds in [iova, iova + length). */
  notifyUnmap(iova: bigint, lengthBytes: bigint): void;
}

/**
 * A piece of a pages store to map: COPY passes several, MAP one. It starts at byte
 * `pageOffsetBytes` of page `firstPageIndex` (iopt_pages_list.start_byte, split as an area keeps
 * it); a MAP's slice starts in page 0.
 */
export interface PagesSlice {
  pages: IoptPages;
  firstPageIndex: number;
  pageOffsetBytes: number;
  lengthBytes: number;
  /** The exact length when it may be 2^53 or more (lengthBytes is then rounded). */
  lengthBig?: bigint;
}

/** Where an IOVA of an area lies in its pages: iopt_area_start_byte as page index and in-page offset. */
export interface PagesPosition {
  pageIndex: number;
  pageOffsetBytes: number;
}

const sliceLength = (s: PagesSlice): bigint => s.lengthBig ?? BigInt(s.lengthBytes);
/** The exact byte length of an area (one bigint made, not two, when `lengthBytes` is exact). */
export const areaLength = (a: Area): bigint => (a.lengthBytes <= Number.MAX_SAFE_INTEGER ? BigInt(a.lengthBytes) : a.last - a.start + 1n);

export const areaFirstPage = (a: Area): number => a.firstPageIndex;
export const areaLastPage = (a: Area): number => {
  // Bytes from the start of the first page to the last byte; a rounded `lengthBytes` (2^53 and
  // more) makes the sum pass MAX_SAFE_INTEGER, so an inexact sum never takes the number path.
  const lastByte = a.pageOffsetBytes + a.lengthBytes - 1;
  if (lastByte <= Number.MAX_SAFE_INTEGER) return a.firstPageIndex + Math.floor(lastByte / PAGE_BYTES);
  return a.firstPageIndex + Number((BigInt(a.pageOffsetBytes) + (a.last - a.start)) / PAGE_SIZE);
};
/** Byte offset in its pages of the first byte of `a`, for areas whose pages are pinned (exact: < 2^53). */
export const areaFirstByte = (a: Area): number => a.firstPageIndex * PAGE_BYTES + a.pageOffsetBytes;
/** The byte of its pages' span a slice starts at, relative to the store's first page (exact). */
const sliceStartByte = (s: PagesSlice): bigint =>
  s.firstPageIndex === 0 ? BigInt(s.pageOffsetBytes) : BigInt(s.firstPageIndex) * PAGE_SIZE + BigInt(s.pageOffsetBytes);
/** 2^k for k in 0..64, so that the MAP path allocates no bigint for a power of two. */
const POW2: readonly bigint[] = Array.from({ length: 65 }, (_, k) => 1n << BigInt(k));
/** floor(log2(v)) of a positive bigint, without a loop of bigint multiplications. */
const floorLog2 = (v: bigint): number => {
  if (v < POW2[53]) {
    const n = Number(v);
    return n < 2 ** 32 ? 31 - Math.clz32(n) : 63 - Math.clz32(Math.floor(n / 2 ** 32));
  }
  return v.toString(2).length - 1;
};
/** The smallest power of two ≥ v (v ≥ 1; v < 2^63 here: MAP lengths are below ULONG_MAX / 2). */
const roundupPow2 = (v: bigint): bigint => {
  const k = floorLog2(v);
  return POW2[k] === v ? v : POW2[k + 1];
};
const lowestSetBit = (v: bigint): bigint => v & -v;
/** allocIova refuses lengths from here on (iopt_alloc_iova: length >= ULONG_MAX / 2). */
const AUTO_LENGTH_LIMIT = ULONG_MAX / 2n;
/** The span automatic IOVA uses without allowed ranges: [PAGE_SIZE, ULONG_MAX − PAGE_SIZE]. */
const DEFAULT_SPANS: readonly IovaRange[] = [{ start: PAGE_SIZE, last: ULONG_MAX - PAGE_SIZE }];
const NO_RESERVED: readonly Reserved[] = [];
/** The four protections, one object each: areas share them (an area's prot is never changed in place). */
const PROTS: readonly Prot[] = [false, true].flatMap((write) => [false, true].map((read) => Object.freeze({ read, write })));
const sharedProt = (p: Prot): Prot => PROTS[(p.read ? 1 : 0) | (p.write ? 2 : 0)];

export class IoPagetable {
  private readonly areaTree = new RangeTree<Area>();
  /**
   * The IOVA the areas cover, with touching areas merged: automatic allocation walks these
   * instead of the areas, so packed mappings cost one step however many areas they hold.
   */
  private readonly extents = new RangeTree<IovaRange & RangeLinks>();
  readonly reserved: Reserved[] = [];
  /** Sorted, disjoint. */
  allowed: IovaRange[] = [];
  readonly domains: PagingDomain[] = [];
  readonly accesses = new Set<AccessLink>();
  iovaAlignment = 1;
  disableLargePages = false;
  /** `iovaAlignment - 1` as a bigint, remade when the alignment changes (the MAP path reads it). */
  private maskAlignment = 1;
  private maskBig = 0n;

  constructor(readonly failNth: FailNth = new FailNth()) {}

  // ---- lookups ----

  /** Every area in IOVA order (a fresh array: O(n), for whole-IOAS walks and dumps). */
  get areas(): Area[] {
    return this.areaTree.toArray();
  }

  get areaCount(): number {
    return this.areaTree.size;
  }

  /** Adds [start, last] (free of areas) to the extents, merging with touching neighbours. */
  private addExtent(start: bigint, last: bigint): void {
    const before = start === 0n ? -1n : start - 1n;
    const near = start === 0n ? undefined : this.extents.firstEndingAtOrAfter(before);
    const left = near !== undefined && near.last === before ? near : undefined;
    const next = left === undefined ? near : this.extents.after(left);
    const right = next !== undefined && next.start === last + 1n ? next : undefined;
    // In-place bound changes keep the ranges disjoint: [start, last] was free.
    if (left !== undefined && right !== undefined) {
      this.extents.delete(right);
      left.last = right.last;
    } else if (left !== undefined) left.last = last;
    else if (right !== undefined) right.start = start;
    else this.extents.insert({ start, last, ...UNLINKED });
  }

  /** Takes [start, last] (inside one extent: it was one area) out of the extents. */
  private removeExtent(start: bigint, last: bigint): void {
    const e = this.extents.firstEndingAtOrAfter(start);
    if (e === undefined || e.start > start || e.last < last) throw new Error('removeExtent: range not covered');
    const keepLeft = e.start < start;
    const keepRight = last < e.last;
    if (keepLeft && keepRight) {
      const rightLast = e.last;
      e.last = start - 1n;
      this.extents.insert({ start: last + 1n, last: rightLast, ...UNLINKED });
    } else if (keepLeft) e.last = start - 1n;
    else if (keepRight) e.start = last + 1n;
    else this.extents.delete(e);
  }

  /** The first area intersecting [start, last], or undefined (iopt_area_iter_first). */
  firstArea(start: bigint, last: bigint): Area | undefined {
    return this.areaTree.firstIntersecting(start, last);
  }

  /** Every area intersecting [start, last], in order. */
  areasIn(start: bigint, last: bigint): Area[] {
    const out: Area[] = [];
    for (let a = this.areaTree.firstIntersecting(start, last); a !== undefined && a.start <= last; a = this.areaTree.after(a)) out.push(a);
    return out;
  }

  /**
   * The areas covering [start, last] back to back (iopt_for_each_contig_area), or null when a
   * gap or the end of the areas interrupts the range.
   */
  contigAreas(start: bigint, last: bigint): Area[] | null {
    const out: Area[] = [];
    let cur = start;
    let a = this.areaTree.firstEndingAtOrAfter(start);
    while (true) {
      if (a === undefined || a.start > cur) return null;
      out.push(a);
      if (a.last >= last) return out;
      cur = a.last + 1n;
      a = this.areaTree.after(a);
    }
  }

  /**
   * The areas iopt_for_each_contig_area visits for [start, last]: from the area holding `start`,
   * back to back, up to the first gap; `complete` when they reach `last` (iopt_area_contig_done).
   * The access paths act on each visited area before they learn whether the walk completed.
   */
  contigPrefix(start: bigint, last: bigint): { areas: Area[]; complete: boolean } {
    const areas: Area[] = [];
    let cur = start;
    for (let a = this.areaTree.firstEndingAtOrAfter(start); a !== undefined && a.start <= cur; a = this.areaTree.after(a)) {
      areas.push(a);
      if (a.last >= last) return { areas, complete: true };
      cur = a.last + 1n;
    }
    return { areas, complete: false };
  }

  private reservedHit(start: bigint, last: bigint): boolean {
    return IoPagetable.anyHit(this.reserved, start, last);
  }

  private allowedHit(start: bigint, last: bigint): boolean {
    return IoPagetable.anyHit(this.allowed, start, last);
  }

  /** A plain loop: the MAP path calls it per MAP, and a callback would be an allocation each time. */
  private static anyHit(ranges: readonly IovaRange[], start: bigint, last: bigint): boolean {
    for (let i = 0; i < ranges.length; i++) if (ranges[i].start <= last && start <= ranges[i].last) return true;
    return false;
  }

  // ---- reserved and allowed ----

  /** iopt_reserve_iova: EADDRINUSE over an area or an allowed range. */
  reserve(start: bigint, last: bigint, owner: ReservedOwner): void {
    check(this.firstArea(start, last) === undefined && !this.allowedHit(start, last), 'EADDRINUSE', 'reserved range over an area or an allowed range');
    this.failNth.point('reserved node');
    this.reserved.push({ start, last, owner });
  }

  removeReserved(owner: object): void {
    for (let i = this.reserved.length - 1; i >= 0; i--) if (this.reserved[i].owner === owner) this.reserved.splice(i, 1);
  }

  /** iopt_set_allow_iova: EADDRINUSE if a new range hits a reserved one; atomic. */
  setAllowed(ranges: IovaRange[]): void {
    for (const r of ranges) check(!this.reservedHit(r.start, r.last), 'EADDRINUSE', 'allowed range over a reserved range');
    for (let i = 0; i < ranges.length; i++) this.failNth.point('allowed node');
    this.allowed = [...ranges].sort((a, b) => (a.start < b.start ? -1 : 1));
  }

  /** The holes of the reserved ranges over [0, ULONG_MAX] (IOMMU_IOAS_IOVA_RANGES). */
  iovaRanges(): IovaRange[] {
    const used = [...this.reserved].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    const out: IovaRange[] = [];
    let cur = 0n;
    let done = false;
    for (const r of used) {
      if (r.last < cur) continue;
      if (r.start > cur) out.push({ start: cur, last: r.start - 1n });
      if (r.last === ULONG_MAX) {
        done = true;
        break;
      }
      cur = r.last + 1n;
    }
    if (!done) out.push({ start: cur, last: ULONG_MAX });
    return out;
  }

  // ---- alignment ----

  /** iopt_check_iova_alignment: EADDRINUSE if an area or access cannot live with `align`. */
  private checkAlignment(align: number): void {
    const mask = BigInt(align - 1);
    for (const a of this.areaTree) {
      if ((a.start & mask) !== 0n || (areaLength(a) & mask) !== 0n || (BigInt(a.pageOffsetBytes) & mask) !== 0n) {
        fail('EADDRINUSE', 'an area is not aligned to the new IOVA alignment');
      }
    }
  }

  /** The alignment the current domains, accesses and options impose (iopt_calculate_iova_alignment). */
  computeAlignment(extra: { domain?: PagingDomain; access?: AccessLink; skipDomain?: PagingDomain; skipAccess?: AccessLink; disableLargePages?: boolean } = {}): number {
    let align = 1;
    if (extra.disableLargePages ?? this.disableLargePages) align = PAGE_BYTES;
    for (const d of this.domains) if (d !== extra.skipDomain) align = Math.max(align, d.minPageBytes);
    if (extra.domain) align = Math.max(align, extra.domain.minPageBytes);
    for (const a of this.accesses) if (a !== extra.skipAccess) align = Math.max(align, a.iovaAlignment);
    if (extra.access) align = Math.max(align, extra.access.iovaAlignment);
    return align;
  }

  /** Checks a raised alignment against the areas; lowering never fails. */
  private checkNewAlignment(align: number): void {
    if (align > this.iovaAlignment) this.checkAlignment(align);
  }

  /** IOMMU_OPTION HUGE_PAGES = 0 (iopt_disable_large_pages). */
  disableLarge(): void {
    if (this.disableLargePages) return;
    check(this.domains.length === 0 || this.areaTree.size === 0, 'EINVAL', 'domains already have pages mapped');
    const align = this.computeAlignment({ disableLargePages: true });
    this.checkNewAlignment(align);
    this.disableLargePages = true;
    this.iovaAlignment = align;
  }

  enableLarge(): void {
    this.disableLargePages = false;
    this.iovaAlignment = this.computeAlignment();
  }

  // ---- IOVA allocation ----

  private alignmentMask(): bigint {
    if (this.maskAlignment !== this.iovaAlignment) {
      this.maskBig = BigInt(this.iovaAlignment - 1);
      this.maskAlignment = this.iovaAlignment;
    }
    return this.maskBig;
  }

  /** iopt_check_iova for a fixed IOVA; returns the range's last byte. */
  private checkFixedIova(iova: bigint, length: bigint): bigint {
    check((iova & this.alignmentMask()) === 0n, 'EINVAL', 'IOVA not aligned to the IOAS alignment');
    const last = iova + length - 1n;
    check(last <= ULONG_MAX, 'EOVERFLOW', 'iova + length overflows');
    check(!this.reservedHit(iova, last), 'EINVAL', 'IOVA range intersects a reserved range');
    check(this.firstArea(iova, last) === undefined, 'EEXIST', 'IOVA range intersects a mapped area');
    return last;
  }

  /** __alloc_iova_check_range: the aligned start if [start, last] can hold `length`, else null. */
  private static fitRange(start: bigint, last: bigint, length: bigint, align: bigint, pageOffset: bigint): bigint | null {
    const up = start + align - 1n;
    if (up > ULONG_MAX) return null;
    const aligned = (up & ~(align - 1n)) | pageOffset;
    if (aligned >= last || last - aligned < length - 1n) return null;
    return aligned;
  }

  /** iopt_alloc_iova: lowest fitting hole inside the allowed ranges, clipped to [PAGE_SIZE, ULONG_MAX − PAGE_SIZE]. */
  private allocIova(addr: bigint, length: bigint): bigint {
    const pageOffset = addr % PAGE_SIZE;
    if (length === 0n || length >= AUTO_LENGTH_LIMIT) fail('EOVERFLOW', 'length too large for automatic IOVA');
    let align = addr === 0n ? roundupPow2(length) : (roundupPow2(length) < lowestSetBit(addr) ? roundupPow2(length) : lowestSetBit(addr));
    if (align >= HPAGE_SIZE) align = HPAGE_SIZE;
    check(align >= BigInt(this.iovaAlignment), 'EINVAL', 'automatic IOVA alignment below the IOAS alignment');
    const lo = PAGE_SIZE;
    const hi = ULONG_MAX - PAGE_SIZE;
    const spans: readonly IovaRange[] = this.allowed.length === 0
      ? DEFAULT_SPANS
      : this.allowed
          .filter((r) => r.last >= lo && r.start <= hi)
          .map((r) => ({ start: r.start < lo ? lo : r.start, last: r.last > hi ? hi : r.last }));
    for (const span of spans) {
      const spanStart = IoPagetable.fitRange(span.start, span.last, length, align, pageOffset);
      if (spanStart === null) continue;
      const hole = this.firstHole(spanStart, span.last, length, align, pageOffset);
      if (hole !== null) return hole;
    }
    return fail('ENOSPC', 'no IOVA hole fits');
  }

  /** Walks the holes of reserved ∪ areas within [start, last] and returns the first fit. */
  private firstHole(start: bigint, last: bigint, length: bigint, align: bigint, pageOffset: bigint): bigint | null {
    const res = this.reserved.length === 0 ? NO_RESERVED : this.reserved.filter((r) => r.last >= start && r.start <= last).sort((a, b) => (a.start < b.start ? -1 : 1));
    let a = this.extents.firstEndingAtOrAfter(start);
    let ri = 0;
    let cur = start;
    while (cur <= last) {
      const r = res[ri];
      const next = a !== undefined && a.start <= last && (r === undefined || a.start <= r.start) ? a : r !== undefined && r.start <= last ? r : undefined;
      if (next === undefined) return IoPagetable.fitRange(cur, last, length, align, pageOffset);
      if (next === a) a = this.extents.after(a);
      else ri++;
      if (next.start > cur) {
        const fit = IoPagetable.fitRange(cur, next.start - 1n, length, align, pageOffset);
        if (fit !== null) return fit;
      }
      if (next.last >= last) return null;
      if (next.last + 1n > cur) cur = next.last + 1n;
    }
    return null;
  }

  // ---- domains ----

  /** Maps the bytes of `area` into one domain's table, run by physically contiguous run. */
  private mapAreaInto(area: Area, domain: PagingDomain): void {
    const pgsize = this.disableLargePages ? domain.spec.pgsizeBitmap & (PAGE_SIZE * 2n - 1n) : domain.spec.pgsizeBitmap;
    const firstByte = areaFirstByte(area);
    const endByte = firstByte + area.lengthBytes;
    area.pages.forEachFrameRun(areaFirstPage(area), areaLastPage(area) - areaFirstPage(area) + 1, (index, pfn, count) => {
      const runFirst = Math.max(firstByte, index * PAGE_BYTES);
      const runEnd = Math.min(endByte, (index + count) * PAGE_BYTES);
      // The common run starts the area: its IOVA is the area's start, no bigint to make.
      const iova = runFirst === firstByte ? area.start : area.start + BigInt(runFirst - firstByte);
      domain.table.map(iova, pfn * PAGE_BYTES + (runFirst - index * PAGE_BYTES), runEnd - runFirst, area.prot, pgsize);
    });
  }

  private unmapAreaFrom(area: Area, domain: PagingDomain): void {
    domain.unmap(area.start, area.lengthBytes);
  }

  /**
   * Maps every area into every domain, all or nothing: a driver refusal (the formats' walker
   * throws PtError with the errno the kernel's map_pages gives) unmaps what this call mapped
   * and surfaces as that errno.
   */
  private mapAll(areas: Area[], domains: PagingDomain[]): void {
    if (domains.length === 0) return;
    // (area, domain) pairs are mapped in order; `done` counts them, so the undo needs no list.
    let done = 0;
    try {
      for (let i = 0; i < areas.length; i++) {
        for (let j = 0; j < domains.length; j++) {
          // The selftest mock's map_pages has its own fail_iommufd point (ENOENT, selftest.c);
          // a hardware driver's table allocation fails with ENOMEM.
          this.failNth.point('map_pages', domains[j].spec.unit.model === 'mock' ? 'ENOENT' : 'ENOMEM');
          this.mapAreaInto(areas[i], domains[j]);
          done++;
        }
      }
    } catch (e) {
      for (let k = done - 1; k >= 0; k--) this.unmapAreaFrom(areas[Math.floor(k / domains.length)], domains[k % domains.length]);
      const errno = (e as { name?: string; errno?: string }).name === 'PtError' ? (e as { errno: string }).errno : undefined;
      if (errno !== undefined) throw new UapiError(errno, (e as Error).message);
      throw e;
    }
  }

  /** Pins every area (first domain arrives): all or nothing. */
  private fillAreas(areas: Area[]): void {
    let done = 0;
    try {
      for (; done < areas.length; done++) {
        const a = areas[done];
        a.pages.pin(areaFirstPage(a), areaLastPage(a) - areaFirstPage(a) + 1);
      }
    } catch (e) {
      for (let i = 0; i < done; i++) areas[i].pages.unpin(areaFirstPage(areas[i]), areaLastPage(areas[i]) - areaFirstPage(areas[i]) + 1);
      throw e;
    }
    for (const a of areas) a.filled = true;
  }

  private unfillArea(a: Area): void {
    if (!a.filled) return;
    a.pages.unpin(areaFirstPage(a), areaLastPage(a) - areaFirstPage(a) + 1);
    a.filled = false;
  }

  /** iopt_table_add_domain: alignment, aperture reservation, fill; all or nothing. */
  addDomain(domain: PagingDomain): void {
    const align = Math.max(domain.minPageBytes, this.iovaAlignment);
    check(align <= PAGE_BYTES, 'EINVAL', 'domain cannot map PAGE_SIZE');
    if (align !== this.iovaAlignment) this.checkAlignment(align);
    const { start, last } = domain.spec.aperture;
    try {
      if (start !== 0n) this.reserve(0n, start - 1n, domain);
      if (last !== ULONG_MAX) this.reserve(last + 1n, ULONG_MAX, domain);
      if (this.domains.length === 0) this.fillAreas(this.areas);
    } catch (e) {
      this.removeReserved(domain);
      throw e;
    }
    try {
      this.mapAll(this.areas, [domain]);
    } catch (e) {
      if (this.domains.length === 0) for (const a of this.areas) this.unfillArea(a);
      this.removeReserved(domain);
      throw e;
    }
    this.domains.push(domain);
    this.iovaAlignment = align;
  }

  /** iopt_table_remove_domain: unmap, unpin when it was the last, drop its reservations. */
  removeDomain(domain: PagingDomain): void {
    const i = this.domains.indexOf(domain);
    if (i < 0) throw new Error('removeDomain: not a domain of this IOAS');
    for (const a of this.areaTree) this.unmapAreaFrom(a, domain);
    this.domains.splice(i, 1);
    if (this.domains.length === 0) for (const a of this.areaTree) this.unfillArea(a);
    this.removeReserved(domain);
    this.iovaAlignment = this.computeAlignment();
  }

  // ---- accesses ----

  addAccess(access: AccessLink): void {
    const align = this.computeAlignment({ access });
    this.checkNewAlignment(align);
    this.accesses.add(access);
    this.iovaAlignment = align;
  }

  removeAccess(access: AccessLink): void {
    this.accesses.delete(access);
    this.iovaAlignment = this.computeAlignment();
  }

  // ---- map / unmap ----

  /**
   * iopt_map_pages: allocates or checks the IOVA, checks each piece, pins and maps into every
   * domain, then makes the areas visible. Returns the IOVA. Nothing changes on failure.
   */
  mapPages(slices: PagesSlice[], lengthBytes: number, iova: bigint | null, prot: Prot): bigint {
    // The exact total: `lengthBytes` is rounded from 2^53 on.
    let length = sliceLength(slices[0]);
    for (let i = 1; i < slices.length; i++) length += sliceLength(slices[i]);
    const aligned = Number.isSafeInteger(lengthBytes) ? lengthBytes % this.iovaAlignment === 0 : (length & this.alignmentMask()) === 0n;
    check(lengthBytes !== 0 && aligned, 'EINVAL', 'length zero or not aligned to the IOAS alignment');
    let dst: bigint;
    let dstLast: bigint | undefined;
    if (iova === null) {
      const first = slices[0];
      dst = this.allocIova(first.pages.baseAddrBytes + sliceStartByte(first), length);
    } else {
      dstLast = this.checkFixedIova(iova, length);
      dst = iova;
    }
    const areas: Area[] = [];
    let cur = dst;
    for (let i = 0; i < slices.length; i++) {
      const s = slices[i];
      this.failNth.point('area');
      check(!prot.write || s.pages.writable, 'EPERM', 'writeable mapping of read-only pages');
      check(s.pageOffsetBytes % this.iovaAlignment === 0, 'EINVAL', 'user address page offset not aligned to the IOAS alignment');
      // A single slice ends where the checked range does (no bigint arithmetic twice).
      const last = slices.length === 1 && dstLast !== undefined ? dstLast : cur + sliceLength(s) - 1n;
      check(last <= ULONG_MAX, 'EOVERFLOW', 'area end overflows');
      areas.push({
        start: cur, last, pages: s.pages, firstPageIndex: s.firstPageIndex, pageOffsetBytes: s.pageOffsetBytes, lengthBytes: s.lengthBytes,
        prot: sharedProt(prot), filled: false, accessPins: 0, preventAccess: false, treePrio: 0, treeLeft: null, treeRight: null,
      });
      if (i + 1 < slices.length) cur = last + 1n;
    }
    if (this.domains.length > 0) this.fillAreas(areas);
    try {
      this.mapAll(areas, this.domains);
    } catch (e) {
      for (const a of areas) this.unfillArea(a);
      throw e;
    }
    for (const a of areas) {
      a.pages.areaRefs++;
      this.areaTree.insert(a);
      this.addExtent(a.start, a.last);
    }
    return dst;
  }

  /** Tears down one area that has no access pins and takes it out of the IOAS. */
  private dismantleArea(a: Area): void {
    for (const d of this.domains) this.unmapAreaFrom(a, d);
    this.unfillArea(a);
    this.removeExtent(a.start, a.last);
    this.areaTree.delete(a);
    a.pages.areaRefs--;
  }

  /**
   * iopt_unmap_iova_range: removes every area inside [start, last] in IOVA order. An area that
   * crosses either edge stops the walk with ENOENT — areas already removed stay removed, as in
   * Linux; `unmappedBytes` reports them. Accesses pinning an area are told to drop their pins
   * first; if they do not, EDEADLOCK after 100 tries. Unmapping nothing is not an error here
   * (IOMMU_IOAS_UNMAP turns it into ENOENT; the VFIO compat UNMAP_DMA does not). Each area
   * leaves the tree as it is dismantled; the walk goes on from its successor.
   */
  unmapRange(start: bigint, last: bigint): { unmappedBytes: bigint; errno?: string } {
    let unmapped = 0n;
    let tries = 0;
    let a = this.areaTree.firstEndingAtOrAfter(start);
    let errno: string | undefined;
    for (;;) {
      if (a === undefined || a.start > last) break;
      // iopt_unmap_iova_range: an area an internal access locked is not the caller's to unmap.
      if ((a.locks ?? 0) > 0) {
        errno = 'EBUSY';
        break;
      }
      if (a.start < start || a.last > last) {
        errno = 'ENOENT';
        break;
      }
      if (a.accessPins > 0) {
        a.preventAccess = true;
        if (tries++ > 100) {
          errno = 'EDEADLOCK';
          break;
        }
        for (const acc of [...this.accesses]) acc.notifyUnmap(a.start, areaLength(a));
        a.preventAccess = a.accessPins > 0;
        continue;
      }
      this.dismantleArea(a);
      unmapped = unmapped === 0n ? areaLength(a) : unmapped + areaLength(a);
      a = this.areaTree.after(a);
    }
    return errno === undefined ? { unmappedBytes: unmapped } : { unmappedBytes: unmapped, errno };
  }

  /** iopt_unmap_iova: EINVAL for length 0, EOVERFLOW past ULONG_MAX; returns bytes unmapped. */
  unmap(iova: bigint, length: bigint): bigint {
    check(length !== 0n, 'EINVAL', 'length 0');
    const last = iova + length - 1n;
    check(last <= ULONG_MAX, 'EOVERFLOW', 'iova + length overflows');
    const r = this.unmapRange(iova, last);
    if (r.errno !== undefined) throw new UapiError(r.errno, 'unmap');
    return r.unmappedBytes;
  }

  /** iopt_unmap_all: an empty IOAS is a success with 0 bytes. */
  unmapAll(): bigint {
    const r = this.unmapRange(0n, ULONG_MAX);
    if (r.errno !== undefined) throw new UapiError(r.errno, 'unmap all');
    return r.unmappedBytes;
  }

  /**
   * iopt_cut_iova / iopt_area_split (VFIO type1 compat): splits the area containing `iova` so
   * that `iova` becomes its last byte. EBUSY while the area is being unmapped, EINVAL when the
   * cut is misaligned, an access pins the area, or large pages may be in use.
   */
  cut(iova: bigint): void {
    const a = this.firstArea(iova, iova);
    // iopt_area_split: a cut at either end of the area leaves it whole.
    if (a === undefined || iova === a.start || iova >= a.last) return;
    check(!a.preventAccess, 'EBUSY', 'area is being unmapped');
    const newStart = iova + 1n;
    const mask = BigInt(this.iovaAlignment - 1);
    // iopt_area_start_byte(area, new_start), exact: the rhs starts there in the same pages.
    const at = IoPagetable.pagesPosition(a, newStart);
    check((newStart & mask) === 0n && ((BigInt(at.pageIndex) * PAGE_SIZE + BigInt(at.pageOffsetBytes)) & mask) === 0n, 'EINVAL', 'cut not aligned');
    check(a.accessPins === 0, 'EINVAL', 'an access pins the area');
    check(!(a.filled && !this.disableLargePages), 'EINVAL', 'domains may hold large IOPTEs');
    const rhs: Area = {
      ...a, start: newStart, firstPageIndex: at.pageIndex, pageOffsetBytes: at.pageOffsetBytes, lengthBytes: Number(a.last - newStart + 1n),
    };
    // Each half holds its own pin on its pages (the kernel re-pins the halves the same way).
    if (a.filled) {
      a.pages.pin(areaFirstPage(rhs), areaLastPage(rhs) - areaFirstPage(rhs) + 1);
    }
    if (a.filled) {
      const oldLastPage = areaLastPage(a);
      const lhsLastPage = IoPagetable.pagesPosition(a, iova).pageIndex;
      if (oldLastPage > lhsLastPage) a.pages.unpin(lhsLastPage + 1, oldLastPage - lhsLastPage);
    }
    a.last = iova;
    a.lengthBytes = Number(newStart - a.start);
    a.pages.areaRefs++;
    // Shrinking `a` in place keeps the tree ordered; rhs fills the freed tail.
    this.areaTree.insert(rhs);
  }

  /**
   * The cuts of a VFIO type1 UNMAP_DMA, all or nothing: iopt_area_split allocates its lhs and
   * rhs areas after its checks and before it changes anything, and the kernel does the cuts one
   * after the other, so an ENOMEM at the second cut would leave the first in place (a split no
   * ioctl can observe). The reference reaches the allocation points of every cut that splits
   * first, so that an injected failure leaves STATE exactly as it was.
   */
  cutAll(iovas: readonly bigint[]): void {
    for (const iova of iovas) {
      const a = this.firstArea(iova, iova);
      // A later cut falls inside the lhs of an earlier one (its iova is lower), which ends at
      // or before the original area's last byte: whether it splits is decided the same here.
      if (a === undefined || iova === a.start || iova >= a.last) continue;
      this.failNth.point('split lhs area');
      this.failNth.point('split rhs area');
    }
    this.failNth.quiet(() => {
      for (const iova of iovas) this.cut(iova);
    });
  }

  /** iopt_get_pages for COPY: the slices behind [iova, iova + length), ENOENT if not fully mapped. */
  getPages(iova: bigint, length: bigint): PagesSlice[] {
    check(length !== 0n, 'EINVAL', 'length 0');
    const last = iova + length - 1n;
    check(last <= ULONG_MAX, 'EOVERFLOW', 'src_iova + length overflows');
    const areas = this.contigAreas(iova, last);
    check(areas !== null, 'ENOENT', 'source range not fully mapped');
    return areas.map((a) => {
      // iopt_get_pages allocates a list element per area it takes a reference on.
      this.failNth.point('iopt_pages_list element');
      const from = iova > a.start ? iova : a.start;
      const to = last < a.last ? last : a.last;
      const length = to - from + 1n;
      const at = IoPagetable.pagesPosition(a, from);
      return { pages: a.pages, firstPageIndex: at.pageIndex, pageOffsetBytes: at.pageOffsetBytes, lengthBytes: Number(length), lengthBig: length };
    });
  }

  /** Throws when an invariant of the file header does not hold (tests call it). */
  checkInvariants(): void {
    this.areaTree.checkInvariants();
    this.extents.checkInvariants();
    const merged: IovaRange[] = [];
    const areas = this.areaTree.toArray();
    for (let i = 0; i < areas.length; i++) {
      const a = areas[i];
      if (i > 0 && areas[i - 1].last >= a.start) throw new Error('areas overlap or are unsorted');
      if (a.lengthBytes !== Number(a.last - a.start + 1n)) throw new Error('area length disagrees with its range');
      if (a.filled !== this.domains.length > 0) throw new Error('area fill state disagrees with the domains');
      const m = merged[merged.length - 1];
      if (m !== undefined && m.last + 1n === a.start) m.last = a.last;
      else merged.push({ start: a.start, last: a.last });
    }
    if (JSON.stringify(merged, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) !==
      JSON.stringify(this.extents.toArray().map((e) => ({ start: e.start, last: e.last })), (_k, v) => (typeof v === 'bigint' ? v.toString() : v))) {
      throw new Error('extents are not the union of the areas');
    }
  }

  /**
   * Where `iova` (inside `area`) lies in `area.pages` (iopt_area_start_byte, split into page
   * index and in-page offset), exact however far into the area: the page index of any store is
   * below 2^52.
   */
  static pagesPosition(area: Area, iova: bigint): PagesPosition {
    const delta = iova - area.start;
    // Below 2^52 the distance plus the in-page offset is still a safe integer.
    if (delta < POW2[52]) {
      const byte = area.pageOffsetBytes + Number(delta);
      return { pageIndex: area.firstPageIndex + Math.floor(byte / PAGE_BYTES), pageOffsetBytes: byte % PAGE_BYTES };
    }
    const byte = BigInt(area.pageOffsetBytes) + delta;
    return { pageIndex: area.firstPageIndex + Number(byte / PAGE_SIZE), pageOffsetBytes: Number(byte % PAGE_SIZE) };
  }
}
