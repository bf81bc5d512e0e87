/**
 * The core's I/O page table over the formats' shared walker (reference/formats/page-table.ts):
 * converts bigint IOVAs and byte lengths to the walker's page units (2^unitLg2 bytes, safe JS
 * numbers for every IOVA the formats can hold), the domain's pgsize bitmap to its page-size
 * list, and its Translation back to bytes. Mapping errors of the walker are bugs of the core
 * here (the core maps only aligned ranges inside the aperture), so they propagate as exceptions.
 * Unmaps use the kernel's rule (a leaf running past the range goes whole, none is ever split):
 * the core unmaps exactly the ranges it mapped, one map call per area, so no leaf straddles an
 * unmap edge; a count other than the request is a core bug and throws.
 */

import type { PagingDomainSpec } from '../iommu/unit.ts';
import type { PhysicalMemory } from '../machine/physical-memory.ts';
import { IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE, PERM_R, PERM_W } from '../formats/format.ts';
import type { FormatConfig, FormatName } from '../formats/format.ts';
import { PageTable } from '../formats/page-table.ts';
import type { HookOut_PGTABLE_DUMP } from '../../schemas/generated/protocol.ts';
import type { IoPageTable, Prot, Translation } from './domain.ts';

export class FormatTable implements IoPageTable {
  readonly pt: PageTable;
  private readonly unitLg2: number;
  private readonly unitBig: bigint;
  private readonly unitBytes: number;
  private mapped = 0;
  epoch = 0;
  /** Ranges mapped with neither READ nor WRITE that the format skipped (io-pgtable-arm). */
  private readonly skipped = new Map<bigint, number>();

  constructor(spec: PagingDomainSpec, phys: PhysicalMemory) {
    const { format, ...config } = spec.table;
    this.pt = PageTable.create(phys, format as FormatName, config as FormatConfig);
    this.unitLg2 = this.pt.unitLg2;
    this.unitBig = BigInt(this.unitLg2);
    this.unitBytes = 2 ** this.unitLg2;
  }

  private units(bytes: number): number {
    return bytes / this.unitBytes;
  }

  /** The last pgsize bitmap and its size list: the same array each time lets the walker keep its size choice. */
  private sizesFor = -1n;
  private sizes: number[] = [];

  map(iova: bigint, physBytes: number, lengthBytes: number, prot: Prot, pgsizeBitmap: bigint): void {
    if (pgsizeBitmap !== this.sizesFor) {
      this.sizes = [];
      for (let b = 0; b < 64; b++) if ((pgsizeBitmap >> BigInt(b)) & 1n) this.sizes.push(b);
      this.sizesFor = pgsizeBitmap;
    }
    const sizes = this.sizes;
    const p = IOMMU_CACHE | (prot.read ? IOMMU_READ : 0) | (prot.write ? IOMMU_WRITE : 0);
    if (!prot.read && !prot.write && this.pt.format.noAccessMap === 'skip') {
      this.skipped.set(iova, lengthBytes);
      return;
    }
    this.epoch++;
    this.pt.map(Number(iova >> this.unitBig), this.units(physBytes), this.units(lengthBytes), p, { pageSizesLg2: sizes });
    this.mapped += lengthBytes;
  }

  unmap(iova: bigint, lengthBytes: number): void {
    if (this.skipped.get(iova) === lengthBytes) {
      this.skipped.delete(iova);
      return;
    }
    this.epoch++;
    const want = this.units(lengthBytes);
    const got = this.pt.unmap(Number(iova >> this.unitBig), want, { partial: 'kernel' });
    if (got !== want) throw new Error(`page table unmapped ${got} of ${want} units at 0x${iova.toString(16)}`);
    this.mapped -= lengthBytes;
  }

  translate(iova: bigint): Translation | null {
    const t = this.pt.translate(Number(iova >> this.unitBig));
    if (t === null) return null;
    const inUnit = Number(iova & ((1n << this.unitBig) - 1n));
    return {
      physBytes: t.oaUnit * 2 ** this.unitLg2 + inUnit,
      pageSizeBytes: 2 ** t.sizeLg2,
      read: (t.perm & PERM_R) !== 0,
      write: (t.perm & PERM_W) !== 0,
    };
  }

  markAccess(iova: bigint, write: boolean): void {
    this.pt.markAccess(Number(iova >> this.unitBig), write);
  }

  setDirty(iova: bigint): boolean {
    return this.pt.setDirty(Number(iova >> this.unitBig));
  }

  readAndClearDirty(iova: bigint, lengthBytes: bigint, noClear: boolean, record: (iova: bigint, lengthBytes: bigint) => void): void {
    const first = iova >> this.unitBig;
    const end = (iova + lengthBytes + (1n << this.unitBig) - 1n) >> this.unitBig;
    this.pt.readAndClearDirty(Number(first), Number(end - first), noClear ? 'no-clear' : 'clear', (u, n) =>
      record(BigInt(u) << this.unitBig, BigInt(n) << this.unitBig));
  }

  tableFrames(): number {
    return this.pt.tableFrameCount;
  }

  mappedBytes(): number {
    return this.mapped;
  }

  dump(): HookOut_PGTABLE_DUMP {
    const d = this.pt.dump();
    return { format: d.format, config: { ...d.config }, root: d.root, words: d.words.map((w) => ({ addr: w.addr, value: w.value })) };
  }

  destroy(): void {
    if (this.mapped !== 0) throw new Error(`page table destroyed with ${this.mapped} bytes mapped`);
    this.pt.destroy();
  }
}
