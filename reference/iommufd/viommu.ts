/**
 * vIOMMU and vDEVICE objects (drivers/iommu/iommufd/viommu.c, v6.17+): IOMMU_VIOMMU_ALLOC,
 * IOMMU_VDEVICE_ALLOC, nested HWPTs allocated on a vIOMMU (hw_pagetable.c
 * iommufd_viommu_alloc_hwpt_nested), IOMMU_HWPT_INVALIDATE on a vIOMMU, and the vDEVICE's end
 * when its device is unbound (iommufd_device_pre_destroy: destroyed, its ID a tombstone).
 *
 * The core here is driver-agnostic: a unit offers vIOMMU types through
 * IommuUnit.viommuSupported / viommuInit and returns a ViommuDriver; the SMMUv3 vSMMU is one
 * such driver, a selftest vIOMMU would be another.
 *
 * References (`users`): a vIOMMU holds its NEST_PARENT HWPT; a vDEVICE and a nested HWPT made
 * on a vIOMMU hold the vIOMMU (not the parent). A vDEVICE holds no `users` on its device (a
 * wait_cnt in Linux): unbinding the device destroys the vDEVICE instead.
 */

import type { IommuUnit, UnitDevice, ViommuCore, ViommuDriver } from '../iommu/unit.ts';
import { IOMMU_HWPT_FAULT_ID_VALID, IOMMU_HWPT_ALLOC_PASID } from '../iommu/unit.ts';
import type { IommufdContext } from './context.ts';
import { check, fail } from './errors.ts';
import type { Args, Out } from './hwpt.ts';
import type { DeviceObject, HwptPagingObject } from './objects.ts';
import { HwptNestedObject, IommufdObject } from './objects.ts';
import { reportVevent, type VeventqObject } from './veventq.ts';

/** enum iommu_viommu_type: DEFAULT is reserved. */
export const IOMMU_VIOMMU_TYPE_DEFAULT = 0;
/** virt_id indexes an xarray: it must fit an unsigned long (64 bits here, so every u64 does). */
const ULONG_MAX = (1n << 64n) - 1n;

export class ViommuObject extends IommufdObject {
  readonly kind = 'VIOMMU';
  /** viommu->vdevs: virt_id → vDEVICE. */
  readonly vdevs = new Map<bigint, VdeviceObject>();
  /** viommu->veventqs: at most one per type (each holds one `users` reference). */
  readonly veventqs: VeventqObject[] = [];
  driver!: ViommuDriver;

  constructor(
    /** viommu->hwpt: the NEST_PARENT paging HWPT (one `users` reference). */
    readonly parent: HwptPagingObject,
    readonly type: number,
    /** viommu->iommu_dev: devices of other units cannot use this vIOMMU. */
    readonly unitOf: IommuUnit,
  ) {
    super();
  }

  /** The core's answers to the driver (iommufd_viommu_find_dev / _get_vdev_id). */
  core(): ViommuCore {
    return {
      deviceOf: (virtId) => this.vdevs.get(virtId)?.dev.dev ?? null,
      virtIdOf: (dev: UnitDevice) => {
        for (const [id, v] of this.vdevs) if (v.dev.dev === dev) return id;
        return null;
      },
      reportEvent: (type, data) => reportVevent(this, type, data),
    };
  }
}

export class VdeviceObject extends IommufdObject {
  readonly kind = 'VDEVICE';

  constructor(
    readonly viommu: ViommuObject,
    readonly dev: DeviceObject,
    readonly virtId: bigint,
  ) {
    super();
  }
}

/** IOMMU_VIOMMU_ALLOC (iommufd_viommu_alloc_ioctl), checks in the kernel's order. */
export function viommuAlloc(ctx: IommufdContext, a: Args): Out {
  const type = Number(a.type);
  // __reserved is not checked by viommu.c; data_len/data_uptr reach only the driver.
  check(a.flags === 0n && type !== IOMMU_VIOMMU_TYPE_DEFAULT, 'EOPNOTSUPP', 'flags or type DEFAULT');
  const dev = ctx.table.device(Number(a.dev_id));
  const unit = dev.dev.unit;
  check(unit.viommuSupported !== undefined && unit.viommuInit !== undefined, 'EOPNOTSUPP', 'driver has no vIOMMU ops');
  check(unit.viommuSupported(dev.dev, type), 'EOPNOTSUPP', 'get_viommu_size is 0 for this type');
  const parent = ctx.table.get(Number(a.hwpt_id), 'HWPT_PAGING') as HwptPagingObject;
  check(parent.nestParent, 'EINVAL', 'hwpt_id is not a NEST_PARENT HWPT');
  ctx.machine.failNth.point('viommu object');
  const viommu = new ViommuObject(parent, type, unit);
  const dataLen = Number(a.data_len);
  const data = dataLen !== 0 ? { type, lengthBytes: dataLen, bytes: ctx.readUser(a.data_uptr, dataLen) } : null;
  const driver = unit.viommuInit(dev.dev, type, parent.domain.spec, data, viommu.core());
  if (!driver.ok) fail(driver.errno, driver.why);
  viommu.driver = driver.value;
  // iommufd_viommu_alloc_mmap: the driver's region gets its offset in this context's mmap space.
  const want = driver.value.mmapRegion;
  let back = driver.value.userDataOut;
  if (want !== undefined) {
    const region = ctx.mmapSpace.alloc(viommu, BigInt(want.lengthBytes), want.initial);
    back = want.withOffset(region.offsetBytes);
  }
  // The driver's answer in its data (iommu_copy_struct_to_user: at most data_len bytes).
  if (back !== undefined && dataLen !== 0) check(ctx.writeUser(a.data_uptr, back.subarray(0, Math.min(dataLen, back.length))), 'EFAULT', 'data_uptr');
  parent.users++;
  ctx.table.add(viommu);
  return { out_viommu_id: viommu.id };
}

/** IOMMU_VDEVICE_ALLOC (iommufd_vdevice_alloc_ioctl). */
export function vdeviceAlloc(ctx: IommufdContext, a: Args): Out {
  check(a.virt_id <= ULONG_MAX, 'EINVAL', 'virt_id above ULONG_MAX');
  const viommu = ctx.table.get(Number(a.viommu_id), 'VIOMMU') as ViommuObject;
  const dev = ctx.table.device(Number(a.dev_id));
  check(viommu.unitOf === dev.dev.unit, 'EINVAL', 'device is behind another IOMMU instance');
  check(dev.vdev === null, 'EEXIST', 'the device already has a vDEVICE');
  check(!viommu.vdevs.has(a.virt_id), 'EEXIST', 'virt_id already used on this vIOMMU');
  ctx.machine.failNth.point('vdevice object');
  const vdev = new VdeviceObject(viommu, dev, a.virt_id);
  viommu.vdevs.set(a.virt_id, vdev);
  viommu.users++;
  dev.vdev = vdev;
  ctx.table.add(vdev);
  return { out_vdevice_id: vdev.id };
}

/** iommufd_vdevice_destroy / _abort: the vIOMMU lets go of it and the device forgets it. */
export function destroyVdevice(ctx: IommufdContext, vdev: VdeviceObject, tombstone: boolean): void {
  vdev.viommu.vdevs.delete(vdev.virtId);
  vdev.viommu.users--;
  vdev.dev.vdev = null;
  if (tombstone) ctx.table.tombstone(vdev);
  else ctx.table.remove(vdev);
}

/** iommufd_viommu_destroy. */
export function destroyViommu(ctx: IommufdContext, viommu: ViommuObject): void {
  ctx.mmapSpace.release(viommu);
  viommu.parent.users--;
  ctx.table.remove(viommu);
}

/**
 * The VIOMMU branch of IOMMU_HWPT_ALLOC: the device must sit behind the vIOMMU's unit
 * (EINVAL), then iommufd_viommu_alloc_hwpt_nested (flags, data_len, driver op: EOPNOTSUPP),
 * then the driver's alloc_domain_nested with FAULT_ID_VALID masked. The HWPT holds the vIOMMU.
 */
export function allocNestedOnViommu(ctx: IommufdContext, viommu: ViommuObject, dev: DeviceObject, flags: number, dataType: number, dataLen: number, dataUptr: bigint): HwptNestedObject {
  check(viommu.unitOf === dev.dev.unit, 'EINVAL', 'device is behind another IOMMU instance');
  check((flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID)) === 0, 'EOPNOTSUPP', 'nested HWPT flags');
  check(dataLen !== 0, 'EOPNOTSUPP', 'a nested HWPT needs driver data');
  const driver = viommu.driver;
  check(driver.allocNested !== undefined, 'EOPNOTSUPP', 'vIOMMU has no alloc_domain_nested');
  ctx.machine.failNth.point('hwpt_nested object');
  const nested = driver.allocNested(flags & ~IOMMU_HWPT_FAULT_ID_VALID, { type: dataType, lengthBytes: dataLen, bytes: ctx.readUser(dataUptr, dataLen) });
  if (!nested.ok) fail(nested.errno, nested.why);
  const hwpt = new HwptNestedObject(viommu.parent, nested.value, viommu);
  viommu.users++;
  return hwpt;
}
