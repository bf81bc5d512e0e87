/**
 * The emulation shadow: what an emulated vIOMMU does today for an assigned device — every guest leaf
 * the device may use becomes one IOMMU_IOAS_MAP of the guest page's VMM address at the guest's
 * IOVA (FIXED_IOVA, READABLE, WRITEABLE when the leaf is), so the kernel pins it and writes its
 * own IOPTEs; a leaf that goes or changes is one IOMMU_IOAS_UNMAP of exactly that area.
 *
 * With `copySource` (an IOAS that maps all guest RAM at IOVA = GPA, kept by the VMM) a guest
 * leaf becomes an IOMMU_IOAS_COPY from it instead of a MAP: the new area shares the source's
 * pages, so whether the kernel pins again is the implementation's answer (the benchmark reads
 * it from ACCOUNTING), not this sink's.
 *
 * Every device request is unprivileged here, so a leaf only privileged requests may use is not
 * mapped (the device faults, as it would through the guest's table). Counters: ioctls go
 * through the client; pages pinned and unpinned are the MAP/UNMAP lengths (iommufd pins a
 * mapped range whole while a domain is attached).
 *
 * Invariant: `areas` is exactly the set of IOAS areas this sink made, sorted by IOVA.
 */

import type { GuestRam } from './guest-memory.ts';
import type { GuestLeaf } from './guest-table.ts';
import type { ShadowSink } from './shadow-sync.ts';
import type { UapiClient } from './uapi-client.ts';

export const IOMMU_IOAS_MAP_FIXED_IOVA = 1;
export const IOMMU_IOAS_MAP_WRITEABLE = 2;
export const IOMMU_IOAS_MAP_READABLE = 4;

interface Area {
  iovaPfn: number;
  pages: number;
  gpa: number;
  write: boolean;
}

export class EmulatedMappings implements ShadowSink {
  private areas: Area[] = [];
  pagesPinned = 0;
  pagesUnpinned = 0;
  /** IOMMU_IOAS_UNMAPs made: each makes the kernel invalidate the host IOTLB over its range. */
  unmaps = 0;

  constructor(
    readonly client: UapiClient,
    readonly ram: GuestRam,
    readonly ioasId: number,
    readonly copySource: number | null = null,
  ) {}

  /** Index of the first area ending after `pfn`. */
  private firstAfter(pfn: number): number {
    let lo = 0;
    let hi = this.areas.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const a = this.areas[mid];
      if (a.iovaPfn + a.pages <= pfn) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  coveredRange(startPfn: number, endPfn: number): [number, number] {
    let s = startPfn;
    let e = endPfn;
    for (let i = this.firstAfter(startPfn); i < this.areas.length && this.areas[i].iovaPfn < endPfn; i++) {
      const a = this.areas[i];
      s = Math.min(s, a.iovaPfn);
      e = Math.max(e, a.iovaPfn + a.pages);
    }
    return [s, e];
  }

  async apply(leaves: readonly GuestLeaf[], startPfn: number, endPfn: number): Promise<void> {
    const want = new Map<number, Area>();
    for (const l of leaves) {
      if (!l.meaning.ok || !l.meaning.access.user) continue;
      want.set(l.iovaPfn, { iovaPfn: l.iovaPfn, pages: 2 ** (l.sizeLg2 - 12), gpa: l.gpa, write: l.meaning.access.write });
    }
    const first = this.firstAfter(startPfn);
    let last = first;
    while (last < this.areas.length && this.areas[last].iovaPfn < endPfn) last++;
    const kept: Area[] = [];
    for (const a of this.areas.slice(first, last)) {
      const w = want.get(a.iovaPfn);
      if (w !== undefined && w.pages === a.pages && w.gpa === a.gpa && w.write === a.write) {
        kept.push(a);
        want.delete(a.iovaPfn);
        continue;
      }
      await this.client.ioctl('IOMMU_IOAS_UNMAP', { ioas_id: this.ioasId, iova: a.iovaPfn * 4096, length: a.pages * 4096 });
      this.pagesUnpinned += a.pages;
      this.unmaps++;
    }
    const added: Area[] = [];
    for (const w of want.values()) {
      if (!this.ram.inRam(w.gpa, w.pages * 4096)) continue; // outside guest RAM: the device faults
      const flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | (w.write ? IOMMU_IOAS_MAP_WRITEABLE : 0);
      if (this.copySource !== null) {
        await this.client.ioctl('IOMMU_IOAS_COPY', { flags, dst_ioas_id: this.ioasId, src_ioas_id: this.copySource, length: w.pages * 4096, dst_iova: w.iovaPfn * 4096, src_iova: w.gpa });
      } else await this.client.ioctl('IOMMU_IOAS_MAP', { ioas_id: this.ioasId, flags, user_va: this.ram.hvaOf(w.gpa), length: w.pages * 4096, iova: w.iovaPfn * 4096 });
      this.pagesPinned += w.pages;
      added.push(w);
    }
    const merged = [...kept, ...added].sort((a, b) => a.iovaPfn - b.iovaPfn);
    this.areas.splice(first, last - first, ...merged);
  }

  async clearAll(): Promise<void> {
    for (const a of this.areas) {
      await this.client.ioctl('IOMMU_IOAS_UNMAP', { ioas_id: this.ioasId, iova: a.iovaPfn * 4096, length: a.pages * 4096 });
      this.pagesUnpinned += a.pages;
      this.unmaps++;
    }
    this.areas = [];
  }

  get areaCount(): number {
    return this.areas.length;
  }
}
