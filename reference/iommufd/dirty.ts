/**
 * Dirty tracking (hw_pagetable.c, io_pagetable.c iopt_set_dirty_tracking /
 * iopt_read_and_clear_dirty_data, iommufd_check_iova_range): IOMMU_HWPT_SET_DIRTY_TRACKING and
 * IOMMU_HWPT_GET_DIRTY_BITMAP on a HWPT_PAGING allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING.
 * Dirty bits live in the page table's leaves (set by DMA writes while tracking is on); the
 * bitmap has bit n for [iova + n·page_size, +page_size), stored as little-endian u64 words at a
 * user pointer of any alignment, and bits are only ever set (the user zeroes the buffer).
 */

import type { IommufdContext } from './context.ts';
import { check } from './errors.ts';
import type { Args, Out } from './hwpt.ts';
import { ULONG_MAX, U64_MAX } from './io-pagetable.ts';
import type { HwptPagingObject } from './objects.ts';

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
    for (const area of hwpt.ioas.iopt.areas) domain.table.readAndClearDirty(area.start, BigInt(area.lengthBytes), false, () => {});
  }
  domain.dirtyTracking = enable;
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
  const bits = new Set<bigint>();
  const record = (iova: bigint, length: bigint): void => {
    const from = iova > a.iova ? iova : a.iova;
    const to = iova + length - 1n < last ? iova + length - 1n : last;
    for (let b = (from - a.iova) / a.page_size; b <= (to - a.iova) / a.page_size; b++) bits.add(b);
  };
  for (const area of iopt.areasIn(a.iova, last)) {
    const from = area.start > a.iova ? area.start : a.iova;
    const to = area.last < last ? area.last : last;
    domain.table.readAndClearDirty(from, to - from + 1n, (flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) !== 0, record);
  }
  // Set the bits in user memory, byte by byte (a little-endian u64 array is bytes in bit order).
  const byBytes = new Map<bigint, number>();
  for (const b of bits) byBytes.set(b / 8n, (byBytes.get(b / 8n) ?? 0) | (1 << Number(b % 8n)));
  for (const [byte, mask] of [...byBytes].sort((x, y) => (x[0] < y[0] ? -1 : 1))) {
    const cur = ctx.readUser(a.data + byte, 1);
    check(cur !== null, 'EFAULT', 'data');
    check(ctx.writeUser(a.data + byte, new Uint8Array([cur[0] | mask])), 'EFAULT', 'data');
  }
  return {};
}
