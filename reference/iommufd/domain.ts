/**
 * A paging domain: the unit's `PagingDomainSpec` plus the I/O page table the core mirrors the
 * IOAS into. The table is built by reference/formats from `spec.table`; this file only says
 * what the core needs from it (`IoPageTable`): map a physically contiguous byte range with a
 * protection and a page-size budget, unmap a range, translate one IOVA.
 *
 * Invariants: the core maps only ranges aligned to the domain's smallest page size and inside
 * its aperture, and unmaps exactly what it mapped (the mock driver WARNs otherwise, so do we).
 */

import type { HookOut_PGTABLE_DUMP } from '../../schemas/generated/protocol.ts';
import type { PagingDomainSpec } from '../iommu/unit.ts';
import type { PhysicalMemory } from '../machine/physical-memory.ts';
import { FormatTable } from './format-table.ts';
import { domainCreated, domainDestroyed, domainRangeChanged } from '../iotlb/unit-iotlb.ts';

export interface Prot {
  read: boolean;
  write: boolean;
}

export interface Translation {
  physBytes: number;
  pageSizeBytes: number;
  read: boolean;
  write: boolean;
}

/** What the core asks of a page table; reference/formats provides the implementations. */
export interface IoPageTable {
  /**
   * Maps [iova, iova + length) to [physBytes, …) with the largest IOPTEs that `pgsizeBitmap`
   * and the alignment of both addresses allow.
   */
  map(iova: bigint, physBytes: number, lengthBytes: number, prot: Prot, pgsizeBitmap: bigint): void;
  unmap(iova: bigint, lengthBytes: number): void;
  translate(iova: bigint): Translation | null;
  /** A DMA through `iova` sets the leaf's accessed (and, for a write, dirty) bit where the format has them. */
  markAccess(iova: bigint, write: boolean): void;
  /**
   * Reports each dirty leaf in [iova, iova + length) as (leaf IOVA, leaf bytes) and cleans it
   * unless `noClear`. Throws when the format has no dirty bit.
   */
  readAndClearDirty(iova: bigint, lengthBytes: bigint, noClear: boolean, record: (iova: bigint, lengthBytes: bigint) => void): void;
  /** Makes the leaf covering `iova` write-dirty (the selftest's DIRTY op); false when nothing is mapped there. */
  setDirty(iova: bigint): boolean;
  /** Bumped by every map and unmap: an IOTLB entry made at the current epoch is known to match the table. */
  readonly epoch: number;
  /** Bytes currently mapped (leak checks). */
  mappedBytes(): number;
  /** 4 KiB frames the table's levels hold now (leak checks). */
  tableFrames(): number;
  dump?(): HookOut_PGTABLE_DUMP;
  /** Frees every table page. */
  destroy(): void;
}

/** Builds the domain's table with the formats' walker. */
export function createPageTable(spec: PagingDomainSpec, phys: PhysicalMemory): IoPageTable {
  return new FormatTable(spec, phys);
}

export class PagingDomain {
  /** Dirty tracking switched on by IOMMU_HWPT_SET_DIRTY_TRACKING. */
  dirtyTracking = false;

  constructor(
    readonly spec: PagingDomainSpec,
    readonly table: IoPageTable,
  ) {
    domainCreated(this);
  }

  /** iommu_unmap: the IOPTEs go, then the IOTLBs of every unit the domain is attached on (iotlb_sync). */
  unmap(iova: bigint, lengthBytes: number): void {
    this.table.unmap(iova, lengthBytes);
    domainRangeChanged(this, iova, lengthBytes);
  }

  /** domain_free: the table and the driver's ids. */
  destroy(): void {
    this.table.destroy();
    domainDestroyed(this);
  }

  /** The smallest IOPTE size (bytes): the IOVA alignment this domain imposes. */
  get minPageBytes(): number {
    const b = this.spec.pgsizeBitmap;
    return Number(b & -b);
  }
}
