/**
 * HW_QUEUE objects (drivers/iommu/iommufd/viommu.c iommufd_hw_queue_alloc_ioctl, v6.17+): a
 * guest queue the hardware reads at physical addresses, so its memory (in the vIOMMU's
 * NEST_PARENT IOAS) is pinned by an internal access for the queue's life, must be physically
 * contiguous (EFAULT), and cannot be unmapped meanwhile (the area's `locks`: UNMAP → EBUSY).
 *
 * The core checks flags/type, length, overflow, the vIOMMU and the driver's support, pins, then
 * asks the driver (ViommuDriver.hwQueueInit: the mock's index rules). A queue the driver makes
 * depend on another (iommufd_hw_queue_depend) holds one `users` reference on it, so queues are
 * destroyed in reverse order.
 */

import { PAGE_BYTES } from '../machine/process-memory.ts';
import { ACCESS_NEEDS_PIN_PAGES, AccessObject } from './access.ts';
import type { IommufdContext } from './context.ts';
import { check, fail } from './errors.ts';
import type { Args, Out } from './hwpt.ts';
import { U64_MAX } from './io-pagetable.ts';
import { IommufdObject } from './objects.ts';
import type { ViommuObject } from './viommu.ts';

export const IOMMU_HW_QUEUE_TYPE_DEFAULT = 0;
const PAGE = BigInt(PAGE_BYTES);

export class HwQueueObject extends IommufdObject {
  readonly kind = 'HW_QUEUE';
  /** The queue this one depends on (holds one `users` reference on it), if any. */
  dependsOn: HwQueueObject | null = null;

  constructor(
    readonly viommu: ViommuObject,
    readonly type: number,
    readonly index: number,
    readonly iova: bigint,
    readonly lengthBytes: bigint,
    readonly access: AccessObject,
    readonly pinId: number,
  ) {
    super();
  }
}

/** The internal access's pin: the pages of [iova, iova + length) whole, locked against UNMAP. */
function pinQueueMemory(viommu: ViommuObject, iova: bigint, length: bigint, ctx: IommufdContext): { access: AccessObject; pinId: number } {
  const aligned = iova - (iova % PAGE);
  const offset = iova - aligned;
  // iommufd_hw_queue_alloc_phys: offset + length + PAGE_SIZE − 1 must not overflow (ERANGE).
  check(offset + length + PAGE - 1n <= U64_MAX, 'ERANGE', 'queue length overflows');
  const pinLength = ((offset + length + PAGE - 1n) / PAGE) * PAGE;
  ctx.machine.failNth.point('hw_queue access');
  const access = new AccessObject(ACCESS_NEEDS_PIN_PAGES, ctx.machine.memory);
  const iopt = viommu.parent.ioas.iopt;
  iopt.addAccess(access);
  access.ioas = viommu.parent.ioas;
  let pinId: number;
  try {
    pinId = access.pin(aligned, pinLength, false);
  } catch (e) {
    iopt.removeAccess(access);
    throw e;
  }
  const item = access.items.get(pinId)!;
  // Physically contiguous or EFAULT.
  const frames: Array<[number, number]> = [];
  for (const p of item.pieces) p.area.pages.forEachFrameRun(p.firstPage, p.pageCount, (_i, pfn, n) => frames.push([pfn, n]));
  const contiguous = frames.every(([pfn], i) => i === 0 || pfn === frames[i - 1][0] + frames[i - 1][1]);
  if (!contiguous) {
    access.releaseAll();
    iopt.removeAccess(access);
    fail('EFAULT', 'queue memory is not physically contiguous');
  }
  for (const p of item.pieces) p.area.locks = (p.area.locks ?? 0) + 1;
  return { access, pinId };
}

function unpinQueueMemory(q: { access: AccessObject; pinId: number; viommu: ViommuObject }): void {
  const item = q.access.items.get(q.pinId);
  if (item !== undefined) for (const p of item.pieces) p.area.locks = (p.area.locks ?? 1) - 1;
  q.access.releaseAll();
  q.viommu.parent.ioas.iopt.removeAccess(q.access);
  q.access.ioas = null;
}

/** IOMMU_HW_QUEUE_ALLOC, checks in the kernel's order. */
export function hwQueueAlloc(ctx: IommufdContext, a: Args): Out {
  const type = Number(a.type);
  check(a.flags === 0n && type !== IOMMU_HW_QUEUE_TYPE_DEFAULT, 'EOPNOTSUPP', 'flags or type DEFAULT');
  check(a.length !== 0n, 'EINVAL', 'length 0');
  check(a.nesting_parent_iova + a.length - 1n <= U64_MAX, 'EOVERFLOW', 'nesting_parent_iova + length − 1 overflows');
  const viommu = ctx.table.get(Number(a.viommu_id), 'VIOMMU') as ViommuObject;
  const driver = viommu.driver;
  check(driver.hwQueueSupported !== undefined && driver.hwQueueInit !== undefined && driver.hwQueueSupported(type), 'EOPNOTSUPP', 'vIOMMU has no HW queue of this type');
  ctx.machine.failNth.point('hw_queue object');
  const { access, pinId } = pinQueueMemory(viommu, a.nesting_parent_iova, a.length, ctx);
  const q = new HwQueueObject(viommu, type, Number(a.index), a.nesting_parent_iova, a.length, access, pinId);
  const r = driver.hwQueueInit(q.index, q);
  if (!r.ok) {
    unpinQueueMemory(q);
    return fail(r.errno, r.why);
  }
  const dep = r.value as HwQueueObject | null;
  if (dep !== null) {
    q.dependsOn = dep;
    dep.users++;
  }
  viommu.users++;
  ctx.table.add(q);
  return { out_hw_queue_id: q.id };
}

/** iommufd_hw_queue_destroy: the driver lets go, the memory is unpinned, the vIOMMU released. */
export function destroyHwQueue(ctx: IommufdContext, q: HwQueueObject): void {
  q.viommu.driver.hwQueueDestroy?.(q.index);
  if (q.dependsOn !== null) q.dependsOn.users--;
  unpinQueueMemory(q);
  q.viommu.users--;
  ctx.table.remove(q);
}
