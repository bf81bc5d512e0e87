/**
 * A paging domain: the unit's `PagingDomainSpec` plus the I/O page table the core mirrors the
 * IOAS into. The table is built by reference/formats from `spec.table`; this file only says
 * what the core needs from it (`IoPageTable`): map a physically contiguous byte range with a
 * protection and a page-size budget, unmap a range, translate one IOVA.
 *
 * Invariants: the core maps only ranges aligned to the domain's smallest page size and inside
 * its aperture, and unmaps exactly what it mapped (the mock driver WARNs otherwise, so do we).
 */

import type { PagingDomainSpec } from '../iommu/unit.ts';
import type { PhysicalMemory } from '../machine/physical-memory.ts';

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

export interface TableDump {
  format: string;
  config: Record<string, unknown>;
  root: number;
  words: Array<{ addr: number; value: string }>;
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
  /** Bytes currently mapped (leak checks). */
  mappedBytes(): number;
  dump?(): TableDump;
  /** Frees every table page. */
  destroy(): void;
}

export type PageTableFactory = (spec: PagingDomainSpec, phys: PhysicalMemory) => IoPageTable;

let factory: PageTableFactory | undefined;

/** Installs the page-table builder (reference/formats wiring). */
export function setPageTableFactory(f: PageTableFactory): void {
  factory = f;
}

export function createPageTable(spec: PagingDomainSpec, phys: PhysicalMemory): IoPageTable {
  if (factory === undefined) throw new Error('no page-table factory installed (reference/formats not wired)');
  return factory(spec, phys);
}

export class PagingDomain {
  /** Dirty tracking switched on by IOMMU_HWPT_SET_DIRTY_TRACKING. */
  dirtyTracking = false;

  constructor(
    readonly spec: PagingDomainSpec,
    readonly table: IoPageTable,
  ) {}

  /** The smallest IOPTE size (bytes): the IOVA alignment this domain imposes. */
  get minPageBytes(): number {
    const b = this.spec.pgsizeBitmap;
    return Number(b & -b);
  }
}
