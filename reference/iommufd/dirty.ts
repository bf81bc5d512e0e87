/**
 * Dirty tracking (hw_pagetable.c, io_pagetable.c iopt_set_dirty_tracking /
 * iopt_read_and_clear_dirty_data, iommufd_check_iova_range): IOMMU_HWPT_SET_DIRTY_TRACKING and
 * IOMMU_HWPT_GET_DIRTY_BITMAP on a HWPT_PAGING allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING.
 * Dirty bits live in the page table's leaves (set by DMA writes while tracking is on); the
 * bitmap has bit n for [iova + n·page_size, +page_size), stored as little-endian u64 words at a
 * user pointer of any alignment, and bits are only ever set (the user zeroes the buffer).
 * `markDirtyFromBitmap` is the selftest's IOMMU_TEST_OP_DIRTY (selftest.c iommufd_test_dirty),
 * reached through the SET_DIRTY test hook.
 *
 * IOTLB: a leaf whose dirty bit is cleared goes into an iotlb gather and the domain is flushed
 * over the gathered range before the call returns (iommu_read_and_clear_dirty → iommu_iotlb_sync,
 * skipped with NO_CLEAR; iopt_clear_dirty_data likewise), so the next DMA write walks and sets D
 * again. Switching tracking makes VT-d and AMD rewrite the PASID entry / DTE and flush the domain.
 */

import type { IommufdContext } from './context.ts';
import { check } from './errors.ts';
import type { Args, Out } from './hwpt.ts';
import { areaLength, ULONG_MAX, U64_MAX } from './io-pagetable.ts';
import type { HwptPagingObject } from './objects.ts';
import { domainDirtySwitched, domainRangeChanged } from '../iotlb/unit-iotlb.ts';
import type { PagingDomain } from './domain.ts';

/** struct iommu_iotlb_gather: the span of the leaves recorded dirty (start/end only grow). */
class Gather {
  start = -1n;
  last = -1n;
  add(iova: bigint, lengthBytes: bigint): void {
    if (this.start < 0n || iova < this.start) this.start = iova;
    if (iova + lengthBytes - 1n > this.last) this.last = iova + lengthBytes - 1n;
  }
  /** iommu_iotlb_sync of the gathered span; an empty gather flushes nothing. */
  sync(domain: PagingDomain): void {
    if (this.start >= 0n) domainRangeChanged(domain, this.start, this.last - this.start + 1n);
  }
}

export const IOMMU_HWPT_DIRTY_TRACKING_ENABLE = 1 << 0;
export const IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR = 1 << 0;

/** IOMMU_HWPT_SET_DIRTY_TRACKING: enabling starts from a clean snapshot. */
export function setDirtyTracking(ctx: IommufdContext, a: Args): Out {
  check((Number(a.flags) & ~IOMMU_HWPT_DIRTY_TRACKING_ENABLE) === 0, 'EOPNOTSUPP', 'flags');
  const hwpt = ctx.table.get(Number(a.hwpt_id), 'HWPT_PAGING') as HwptPagingObject;
  const { domain } = hwpt;
  check(domain.spec.dirtyOps, 'EOPNOTSUPP', 'HWPT was not allocated with DIRTY_TRACKING');
  const enable = (Number(a.flags) & IOMMU_HWPT_DIRTY_TRACKING_ENABLE) !== 0;
  if (enable) {
    const gather = new Gather();
    for (const area of hwpt.ioas.iopt.areas) domain.table.readAndClearDirty(area.start, areaLength(area), false, (iova, len) => gather.add(iova, len));
    gather.sync(domain);
  }
  const changed = domain.dirtyTracking !== enable;
  domain.dirtyTracking = enable;
  if (changed) domainDirtySwitched(domain);
  return {};
}

/** IOMMU_HWPT_GET_DIRTY_BITMAP. */
export function getDirtyBitmap(ctx: IommufdContext, a: Args): Out {
  const flags = Number(a.flags);
  check((flags & ~IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) === 0 && a.__reserved === 0n, 'EOPNOTSUPP', 'flags or __reserved');
  const hwpt = ctx.table.get(Number(a.hwpt_id), 'HWPT_PAGING') as HwptPagingObject;
  const { domain } = hwpt;
  const iopt = hwpt.ioas.iopt;
  check(domain.spec.dirtyOps, 'EOPNOTSUPP', 'HWPT was not allocated with DIRTY_TRACKING');
  // iommufd_check_iova_range
  const last = a.iova + ((a.length - 1n) & U64_MAX);
  check(last <= U64_MAX && a.iova <= ULONG_MAX && last <= ULONG_MAX, 'EOVERFLOW', 'iova + length');
  const align = BigInt(iopt.iovaAlignment - 1);
  check((a.iova & align) === 0n && (((last + 1n) & U64_MAX) & align) === 0n, 'EINVAL', 'range not aligned to the IOAS');
  check(a.page_size !== 0n, 'EINVAL', 'page_size 0');
  const pmask = a.page_size - 1n;
  check((a.iova & pmask) === 0n && (((last + 1n) & U64_MAX) & pmask) === 0n, 'EINVAL', 'range not aligned to page_size');
  check(domain.dirtyTracking, 'EINVAL', 'dirty tracking is off');
  // Bit n stands for [iova + n·page_size, +page_size); bits are gathered per byte as JS numbers
  // (a bitmap index fits well below 2^53) and ORed into user memory one contiguous run at a time.
  const byteMasks = new Map<number, number>();
  const gather = new Gather();
  const record = (iova: bigint, length: bigint): void => {
    gather.add(iova, length);
    const from = iova > a.iova ? iova : a.iova;
    const to = iova + length - 1n < last ? iova + length - 1n : last;
    const lastBit = Number((to - a.iova) / a.page_size);
    for (let b = Number((from - a.iova) / a.page_size); b <= lastBit; b++) {
      const byte = Math.floor(b / 8);
      byteMasks.set(byte, (byteMasks.get(byte) ?? 0) | (1 << (b % 8)));
    }
  };
  for (const area of iopt.areasIn(a.iova, last)) {
    const from = area.start > a.iova ? area.start : a.iova;
    const to = area.last < last ? area.last : last;
    domain.table.readAndClearDirty(from, to - from + 1n, (flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) !== 0, record);
  }
  if ((flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) === 0) gather.sync(domain);
  const bytes = [...byteMasks.keys()].sort((x, y) => x - y);
  for (let i = 0; i < bytes.length; ) {
    let j = i + 1;
    while (j < bytes.length && bytes[j] === bytes[j - 1]! + 1) j++;
    const at = a.data + BigInt(bytes[i]!);
    const cur = ctx.readUser(at, j - i);
    check(cur !== null, 'EFAULT', 'data');
    for (let k = i; k < j; k++) cur[k - i] = cur[k - i]! | byteMasks.get(bytes[k]!)!;
    check(ctx.writeUser(at, cur), 'EFAULT', 'data');
    i = j;
  }
  return {};
}

/** iommufd_test_dirty's cap on the bits of its bitmap: SZ_16M * BITS_PER_BYTE. */
const DIRTY_BITMAP_MAX_BITS = 16n * 1024n * 1024n * 8n;

/**
 * IOMMU_TEST_OP_DIRTY: for every set bit i of the user bitmap at `uptr` (bit i in byte i/8), the
 * leaf covering iova + i·page_size becomes write-dirty; returns how many bits were set (counted
 * whether or not something is mapped there, as the kernel's loop counts). Checks in the kernel's
 * order: the range and pointer (EINVAL, a zero length included), more than 16 Mi·8 bits
 * (EOVERFLOW: a syzkaller fix, in Linux 6.12 as Debian ships it), the HWPT (ENOENT, or EINVAL
 * when not a mock domain), tracking on (EINVAL), the bitmap readable (EFAULT); nothing changes
 * before they all pass.
 */
export function markDirtyFromBitmap(ctx: IommufdContext, hwptId: number, iova: bigint, lengthBytes: bigint, pageSizeBytes: bigint, uptr: bigint): number {
  check(pageSizeBytes !== 0n && lengthBytes !== 0n && iova % pageSizeBytes === 0n && lengthBytes % pageSizeBytes === 0n && uptr !== 0n, 'EINVAL', 'range or pointer');
  check(lengthBytes / pageSizeBytes <= DIRTY_BITMAP_MAX_BITS, 'EOVERFLOW', 'more bits than SZ_16M * BITS_PER_BYTE');
  const { domain } = ctx.table.get(hwptId, 'HWPT_PAGING') as HwptPagingObject;
  check(domain.spec.unit.model === 'mock', 'EINVAL', 'not a mock domain');
  check(domain.dirtyTracking, 'EINVAL', 'dirty tracking is off');
  // The EOVERFLOW cap keeps the bitmap within 16 MiB, the hooks' data limit: kernels before the
  // cap failed the kvzalloc of a bitmap over INT_MAX bytes with ENOMEM instead.
  const nbits = Number(lengthBytes / pageSizeBytes);
  const bitmap = ctx.readUser(uptr, Math.ceil(nbits / 8));
  check(bitmap !== null, 'EFAULT', 'uptr');
  const pageSize = Number(pageSizeBytes);
  let count = 0;
  for (let i = 0; i < nbits; i++) {
    if ((bitmap[i >> 3]! & (1 << (i & 7))) === 0) continue;
    domain.table.setDirty(iova + BigInt(i * pageSize));
    count++;
  }
  return count;
}
