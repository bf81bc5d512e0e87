/**
 * ID allocators as the drivers use them: the kernel's IDA / xarray allocators hand out the lowest
 * free number of a range (ida_alloc_range, xa_alloc). One allocator per scope the driver uses:
 * per unit (VT-d domain ids, SMMUv3 VMIDs) or one for the whole machine (AMD protection-domain
 * ids, SMMUv3 ASIDs, RISC-V PSCIDs).
 *
 * Invariant: a number is handed out at most once until it is freed.
 */

export class IdAllocator {
  private readonly used = new Set<number>();

  constructor(
    readonly min: number,
    readonly max: number,
  ) {}

  /** The lowest free id in [min, max], or −1 when none is left (the driver's ENOSPC). */
  alloc(): number {
    for (let id = this.min; id <= this.max; id++) {
      if (!this.used.has(id)) {
        this.used.add(id);
        return id;
      }
    }
    return -1;
  }

  free(id: number): void {
    if (!this.used.delete(id)) throw new Error(`IdAllocator: ${id} was not allocated`);
  }

  get inUse(): number {
    return this.used.size;
  }
}
