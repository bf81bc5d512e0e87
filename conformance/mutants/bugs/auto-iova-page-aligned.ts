/**
 * Automatic IOVA allocation aligns every mapping to PAGE_SIZE (or the IOAS alignment) instead
 * of to the length's power of two, capped at HPAGE_SIZE, and the user address's lowest set bit
 * (iopt_alloc_iova): mappings still work, but large mappings lose their large IOPTEs and the
 * chosen IOVAs differ from Linux's.
 */
import { fail } from '../../../reference/iommufd/errors.ts';
import { IoPagetable, PAGE_SIZE, ULONG_MAX, type IovaRange } from '../../../reference/iommufd/io-pagetable.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

type Fit = (start: bigint, last: bigint, length: bigint, align: bigint, pageOffset: bigint) => bigint | null;

interface Internals {
  allowed: IovaRange[];
  iovaAlignment: number;
  firstHole: Fit;
}

export const autoIovaPageAligned: Mutant = {
  name: 'auto-iova-page-aligned',
  models: 'automatic IOVA aligned to PAGE_SIZE instead of the length / user address alignment',
  violates: ['IOAS-MAP-AUTO-1'],
  areas: ['ioas/map-auto/*', 'ioas/copy/*', 'ioas/map/*'],
  install: () => Patches.install((p) => p.method(IoPagetable.prototype, 'allocIova', () => function (this: Internals, addr: bigint, length: bigint): bigint {
    const fitRange = (IoPagetable as unknown as { fitRange: Fit }).fitRange;
    const pageOffset = addr % PAGE_SIZE;
    if (length === 0n || length >= ULONG_MAX / 2n) fail('EOVERFLOW', 'length too large for automatic IOVA');
    // BUG: Linux takes min(roundup_pow_of_two(length), lowest set bit of addr), capped at HPAGE_SIZE.
    const align = BigInt(this.iovaAlignment) > PAGE_SIZE ? BigInt(this.iovaAlignment) : PAGE_SIZE;
    const lo = PAGE_SIZE;
    const hi = ULONG_MAX - PAGE_SIZE;
    const spans: IovaRange[] = this.allowed.length === 0
      ? [{ start: lo, last: hi }]
      : this.allowed.filter((r) => r.last >= lo && r.start <= hi).map((r) => ({ start: r.start < lo ? lo : r.start, last: r.last > hi ? hi : r.last }));
    for (const span of spans) {
      const spanStart = fitRange(span.start, span.last, length, align, pageOffset);
      if (spanStart === null) continue;
      const hole = this.firstHole(spanStart, span.last, length, align, pageOffset);
      if (hole !== null) return hole;
    }
    return fail('ENOSPC', 'no IOVA hole fits');
  })),
};
