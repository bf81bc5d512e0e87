/**
 * Regions a vIOMMU driver offers for mmap(2) on the iommufd fd (main.c iommufd_fops_mmap and
 * iommufd_ctx_alloc_mmap, v6.16+): each has an offset in the context's mmap space (a maple
 * tree: page aligned, from PAGE_SIZE up, lowest free first) and a length. An mmap must name a
 * region exactly: an offset inside one but not at its start, an offset in none, or another
 * length fails with ENXIO; a private mapping fails with EINVAL (VM_SHARED is required). A live
 * mapping holds the owner object (`users`), so IOMMU_DESTROY of it is EBUSY until munmap.
 *
 * Invariant: regions do not overlap; a region's `object` exists once it was first mapped and
 * holds the driver's content from then on.
 */

import { MemoryObject, PAGE_BYTES } from '../machine/process-memory.ts';
import type { ProcessMemory } from '../machine/process-memory.ts';
import { check } from './errors.ts';
import type { IommufdObject } from './objects.ts';

const PAGE = BigInt(PAGE_BYTES);

export interface MmapRegion {
  offsetBytes: bigint;
  lengthBytes: bigint;
  owner: IommufdObject;
  /** What the driver's pages hold when first mapped (the selftest vIOMMU: in_data in word 0). */
  initial: Uint8Array;
  object: MemoryObject | null;
}

export interface MmapMapping {
  addr: number;
  lengthBytes: number;
  region: MmapRegion;
}

export class MmapSpace {
  readonly regions: MmapRegion[] = [];

  /** `dropPages` gives a released region's pages back (the driver frees its memory). */
  constructor(private readonly dropPages: (object: MemoryObject) => void) {}

  /** iommufd_ctx_alloc_mmap: the lowest page-aligned gap ≥ PAGE_SIZE that fits. */
  alloc(owner: IommufdObject, lengthBytes: bigint, initial: Uint8Array): MmapRegion {
    const sorted = [...this.regions].sort((x, y) => (x.offsetBytes < y.offsetBytes ? -1 : 1));
    let at = PAGE;
    for (const r of sorted) {
      if (at + lengthBytes <= r.offsetBytes) break;
      const end = r.offsetBytes + r.lengthBytes;
      at = ((end + PAGE - 1n) / PAGE) * PAGE;
    }
    const region: MmapRegion = { offsetBytes: at, lengthBytes, owner, initial, object: null };
    this.regions.push(region);
    return region;
  }

  /** The owner is destroyed: its regions go (mappings of them keep it alive until then). */
  release(owner: IommufdObject): void {
    for (let i = this.regions.length - 1; i >= 0; i--) {
      const r = this.regions[i];
      if (r.owner !== owner) continue;
      if (r.object !== null) this.dropPages(r.object);
      this.regions.splice(i, 1);
    }
  }

  /** iommufd_fops_mmap. */
  map(memory: ProcessMemory, offsetBytes: bigint, lengthBytes: number, isPrivate: boolean): MmapMapping {
    check(!isPrivate, 'EINVAL', 'the iommufd mmap needs MAP_SHARED');
    const region = this.regions.find((r) => offsetBytes >= r.offsetBytes && offsetBytes < r.offsetBytes + r.lengthBytes);
    check(region !== undefined, 'ENXIO', 'no mmap region at this offset');
    check(region.offsetBytes === offsetBytes && region.lengthBytes === BigInt(lengthBytes), 'ENXIO', 'offset and length must name the region exactly');
    let fresh = false;
    if (region.object === null) {
      region.object = new MemoryObject('file', lengthBytes);
      fresh = true;
    }
    const addr = memory.mmap(lengthBytes, region.object, 0);
    if (fresh) memory.write(addr, region.initial);
    region.owner.users++;
    return { addr, lengthBytes, region };
  }
}
