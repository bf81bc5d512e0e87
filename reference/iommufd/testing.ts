/**
 * A stand-in I/O page table for unit tests until reference/formats is wired in: the IOVA→phys
 * map as a sorted list of runs (no per-page objects), with the same contract as a real table
 * (map only what is unmapped, unmap exactly what was mapped, translate one IOVA). It holds no
 * descriptors in simulated memory, so PGTABLE_DUMP is not offered while it is in use.
 * Removed once the formats' walker is installed through setPageTableFactory.
 */

import type { PagingDomainSpec } from '../iommu/unit.ts';
import type { IoPageTable, Prot, Translation } from './domain.ts';

interface Run {
  iova: bigint;
  lengthBytes: number;
  physBytes: number;
  prot: Prot;
  pageBytes: number;
}

export class RunTable implements IoPageTable {
  private runs: Run[] = [];

  constructor(private readonly spec: PagingDomainSpec) {}

  /** Index of the first run whose end is above `iova`. */
  private lowerBound(iova: bigint): number {
    let lo = 0;
    let hi = this.runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const r = this.runs[mid];
      if (r.iova + BigInt(r.lengthBytes) <= iova) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  map(iova: bigint, physBytes: number, lengthBytes: number, prot: Prot, pgsizeBitmap: bigint): void {
    const min = Number(pgsizeBitmap & -pgsizeBitmap);
    if (iova % BigInt(min) !== 0n || physBytes % min !== 0 || lengthBytes % min !== 0) throw new Error(`RunTable.map: misaligned for ${min}`);
    const i = this.lowerBound(iova);
    const next = this.runs[i];
    if (next !== undefined && next.iova < iova + BigInt(lengthBytes)) throw new Error('RunTable.map: already mapped');
    this.runs.splice(i, 0, { iova, lengthBytes, physBytes, prot: { ...prot }, pageBytes: min });
  }

  /** Unmaps [iova, iova + length): every byte must be mapped; runs are cut at the edges. */
  unmap(iova: bigint, lengthBytes: number): void {
    const end = iova + BigInt(lengthBytes);
    let covered = 0n;
    const first = this.lowerBound(iova);
    let last = first;
    const kept: Run[] = [];
    while (last < this.runs.length && this.runs[last].iova < end) {
      const r = this.runs[last++];
      const rEnd = r.iova + BigInt(r.lengthBytes);
      const from = r.iova > iova ? r.iova : iova;
      const to = rEnd < end ? rEnd : end;
      covered += to - from;
      if (r.iova < from) kept.push({ ...r, lengthBytes: Number(from - r.iova) });
      if (to < rEnd) kept.push({ ...r, iova: to, lengthBytes: Number(rEnd - to), physBytes: r.physBytes + Number(to - r.iova) });
    }
    if (covered !== BigInt(lengthBytes)) throw new Error(`RunTable.unmap: [0x${iova.toString(16)}, +0x${lengthBytes.toString(16)}) was not fully mapped`);
    this.runs.splice(first, last - first, ...kept);
  }

  translate(iova: bigint): Translation | null {
    const r = this.runs[this.lowerBound(iova)];
    if (r === undefined || r.iova > iova) return null;
    return { physBytes: r.physBytes + Number(iova - r.iova), pageSizeBytes: r.pageBytes, read: r.prot.read, write: r.prot.write };
  }

  mappedBytes(): number {
    return this.runs.reduce((s, r) => s + r.lengthBytes, 0);
  }

  destroy(): void {
    if (this.runs.length !== 0) throw new Error(`RunTable.destroy: ${this.runs.length} runs still mapped in a ${this.spec.table.format} table`);
  }
}
