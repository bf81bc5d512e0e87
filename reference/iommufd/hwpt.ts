/**
 * HW page tables (hw_pagetable.c) and the device-side queries next to them: IOMMU_HWPT_ALLOC
 * (paging on an IOAS, nested on a NEST_PARENT paging HWPT or on a vIOMMU), IOMMU_HWPT_INVALIDATE
 * (nested HWPT or vIOMMU),
 * IOMMU_GET_HW_INFO, and the paging-domain life cycle shared with automatic domains.
 *
 * A HWPT_PAGING's domain joins its IOAS at allocation (alignment, aperture reservation, fill),
 * not at attach; destroying it leaves the IOAS. A nested HWPT holds a reference on its parent.
 * Check order per ioctl is the kernel's; each is cited where it is not obvious.
 */

import type { InvalidateArray, InvalidateResult, NestedDomain, UserData } from '../iommu/unit.ts';
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_FAULT_ID_VALID } from '../iommu/unit.ts';
import type { IommufdContext } from './context.ts';
import { nestedInvalidated } from '../iotlb/unit-iotlb.ts';
import { createPageTable, PagingDomain } from './domain.ts';
import { check, fail, UapiError } from './errors.ts';
import type { FaultObject } from './fault.ts';
import type { DeviceObject, HwptObject, IoasObject } from './objects.ts';
import { HwptNestedObject, HwptPagingObject } from './objects.ts';
import { allocNestedOnViommu, type ViommuObject } from './viommu.ts';

export type Args = Record<string, bigint>;
export type Out = Record<string, bigint | number>;

export const IOMMU_HW_INFO_FLAG_INPUT_TYPE = 1 << 0;
const IOMMU_HW_INFO_TYPE_NONE = 0;
const PAGING_ALLOWED = IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID;

/**
 * iommufd_hwpt_paging_alloc up to (not including) the object ID: flag checks, driver
 * allocation, the page table, and iopt_table_add_domain. The caller adds it to the table.
 */
export function createHwptPaging(ctx: IommufdContext, ioas: IoasObject, dev: DeviceObject, flags: number, data: UserData | null): HwptPagingObject {
  check((flags & ~PAGING_ALLOWED) === 0, 'EOPNOTSUPP', 'unknown HWPT_ALLOC flags');
  const unit = dev.dev.unit;
  check(!(flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) || (unit.capabilities(dev.dev) & 1) !== 0, 'EOPNOTSUPP', 'device cannot track dirty pages');
  check(!(flags & IOMMU_HWPT_FAULT_ID_VALID && flags & IOMMU_HWPT_ALLOC_NEST_PARENT), 'EOPNOTSUPP', 'a nest parent cannot take faults');
  ctx.machine.failNth.point('hwpt_paging object');
  const spec = unit.allocPaging(dev.dev, flags & ~IOMMU_HWPT_FAULT_ID_VALID, data);
  if (!spec.ok) fail(spec.errno, spec.why);
  const table = createPageTable(spec.value, ctx.machine.phys);
  const domain = new PagingDomain(spec.value, table);
  try {
    ioas.iopt.addDomain(domain);
  } catch (e) {
    domain.destroy();
    throw e;
  }
  const hwpt = new HwptPagingObject(ioas, domain);
  ioas.hwpts.push(hwpt);
  ioas.users++;
  return hwpt;
}

/** Tears a HWPT down (its users must be 0) and removes it from the table if it is there. */
export function destroyHwpt(ctx: IommufdContext, hwpt: HwptObject): void {
  if (hwpt.fault !== null) {
    hwpt.fault.users--;
    hwpt.fault = null;
  }
  if (hwpt.kind === 'HWPT_PAGING') {
    hwpt.ioas.iopt.removeDomain(hwpt.domain);
    hwpt.domain.destroy();
    hwpt.ioas.hwpts.splice(hwpt.ioas.hwpts.indexOf(hwpt), 1);
    hwpt.ioas.users--;
  } else if (hwpt.viommu !== null) {
    hwpt.viommu.users--;
  } else {
    hwpt.parent.users--;
  }
  if (hwpt.id !== 0) ctx.table.remove(hwpt);
}

/**
 * Every driver data struct is far shorter than this, and a longer data_len is EINVAL before any
 * byte is read (__iommu_copy_struct_from_user): nothing past it is ever looked at, so it is not
 * read — a data_len the caller merely claims costs nothing.
 */
const USER_DATA_READ_MAX_BYTES = 4096;

/** Reads driver data for HWPT_ALLOC: the bytes or null when the pointer faults. */
function userData(ctx: IommufdContext, type: number, uptr: bigint, lengthBytes: number): UserData {
  return { type, lengthBytes, bytes: ctx.readUser(uptr, Math.min(lengthBytes, USER_DATA_READ_MAX_BYTES)) };
}

/** IOMMU_HWPT_ALLOC. */
export function hwptAlloc(ctx: IommufdContext, a: Args): Out {
  check(a.__reserved === 0n, 'EOPNOTSUPP', '__reserved');
  const dataType = Number(a.data_type);
  const dataLen = Number(a.data_len);
  check(!(dataType === IOMMU_HWPT_DATA_NONE && dataLen !== 0) && !(dataType !== IOMMU_HWPT_DATA_NONE && dataLen === 0), 'EINVAL', 'data_type and data_len disagree');
  const dev = ctx.table.device(Number(a.dev_id));
  let pt;
  try {
    pt = ctx.table.get(Number(a.pt_id));
  } catch {
    return fail('EINVAL', 'pt_id lookup fails with EINVAL in HWPT_ALLOC');
  }
  const flags = Number(a.flags);
  let hwpt: HwptObject;
  if (pt.kind === 'IOAS') {
    hwpt = createHwptPaging(ctx, pt as IoasObject, dev, flags, dataLen !== 0 ? userData(ctx, dataType, a.data_uptr, dataLen) : null);
  } else if (pt.kind === 'HWPT_PAGING') {
    const parent = pt as HwptPagingObject;
    const unit = dev.dev.unit;
    check((flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID)) === 0 && dataLen !== 0 && unit.allocNested !== undefined, 'EOPNOTSUPP', 'nested HWPT flags or driver');
    check(!parent.autoDomain && parent.nestParent && parent.domain.spec.unit.model === unit.model, 'EINVAL', 'parent must be a manual NEST_PARENT HWPT of the same driver');
    ctx.machine.failNth.point('hwpt_nested object');
    const nested = unit.allocNested!(dev.dev, parent.domain.spec, flags & ~IOMMU_HWPT_FAULT_ID_VALID, userData(ctx, dataType, a.data_uptr, dataLen));
    if (!nested.ok) fail(nested.errno, nested.why);
    hwpt = new HwptNestedObject(parent, nested.value as NestedDomain);
    parent.users++;
  } else if (pt.kind === 'VIOMMU') {
    hwpt = allocNestedOnViommu(ctx, pt as ViommuObject, dev, flags, dataType, dataLen, a.data_uptr);
  } else {
    return fail('EINVAL', 'pt_id is not an IOAS, a paging HWPT or a vIOMMU');
  }
  if (flags & IOMMU_HWPT_FAULT_ID_VALID) {
    // iommufd_hwpt_alloc: the FAULT is looked up after the HWPT exists; a bad fault_id
    // destroys it again (out_hwpt).
    let fault: FaultObject;
    try {
      fault = ctx.table.get(Number(a.fault_id), 'FAULT') as FaultObject;
    } catch (e) {
      destroyHwpt(ctx, hwpt);
      throw e;
    }
    hwpt.fault = fault;
    fault.users++;
  }
  ctx.table.add(hwpt);
  return { out_hwpt_id: hwpt.id };
}

/** IOMMU_HWPT_INVALIDATE: entry_num (entries handled) is written back on every failure too. */
export function hwptInvalidate(ctx: IommufdContext, a: Args): Out {
  const entryNum = Number(a.entry_num);
  const respond = (handled: number, errno?: string, why = ''): Out => {
    if (errno !== undefined) throw new UapiError(errno, why, { entry_num: handled });
    return { entry_num: handled };
  };
  // Every exit, this one included, goes through `out:` and copies entry_num back.
  if (a.__reserved !== 0n) return respond(0, 'EOPNOTSUPP', '__reserved');
  if (entryNum !== 0 && (a.data_uptr === 0n || a.entry_len === 0n)) return respond(0, 'EINVAL', 'entries without a pointer or a length');
  let obj;
  try {
    obj = ctx.table.get(Number(a.hwpt_id));
  } catch (e) {
    return respond(0, (e as UapiError).errno, 'hwpt_id');
  }
  let invalidate: ((array: InvalidateArray) => InvalidateResult) | undefined;
  if (obj.kind === 'HWPT_NESTED') {
    const nested = (obj as HwptNestedObject).nested;
    invalidate = nested.invalidateUser?.bind(nested);
    if (invalidate === undefined) return respond(0, 'EOPNOTSUPP', 'driver has no cache_invalidate_user');
  } else if (obj.kind === 'VIOMMU') {
    const driver = (obj as ViommuObject).driver;
    invalidate = driver.invalidate?.bind(driver);
    if (invalidate === undefined) return respond(0, 'EOPNOTSUPP', 'vIOMMU has no cache_invalidate');
  } else {
    return respond(0, 'EINVAL', 'not a nested HWPT or a vIOMMU');
  }
  const entryLen = Number(a.entry_len);
  const readEntry = (i: number) => ctx.readUser(a.data_uptr + BigInt(i * entryLen), entryLen);
  const r = invalidate({ dataType: Number(a.data_type), entryLenBytes: entryLen, entryNum, readEntry });
  // The entries the driver accepted reach the IOTLB (a vIOMMU's commands go through the unit's queue).
  if (obj.kind === 'HWPT_NESTED') nestedInvalidated((obj as HwptNestedObject).nested, Number(a.data_type), r.handled, readEntry);
  return respond(r.handled, r.errno, 'driver invalidation');
}

/** IOMMU_GET_HW_INFO. */
export function getHwInfo(ctx: IommufdContext, a: Args): Out {
  const flags = Number(a.flags);
  check((flags & ~IOMMU_HW_INFO_FLAG_INPUT_TYPE) === 0, 'EOPNOTSUPP', 'unknown flags');
  check(a.__reserved === 0n, 'EOPNOTSUPP', '__reserved');
  const requested = flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE ? Number(a.in_data_type) : 0;
  const dev = ctx.table.device(Number(a.dev_id));
  const unit = dev.dev.unit;
  const info = unit.hwInfo(dev.dev, requested);
  let type = IOMMU_HW_INFO_TYPE_NONE;
  let bytes: Uint8Array = new Uint8Array(0);
  if (info !== null) {
    if (!info.ok) fail(info.errno, info.why);
    type = info.value.type;
    bytes = info.value.bytes;
  }
  const userLen = Number(a.data_len);
  const copyLen = Math.min(userLen, bytes.length);
  if (userLen > 0) {
    // The data, then zeros up to data_len (device.c: copy_to_user, then clear_user of the rest),
    // written in place: data_len is the caller's claim, no buffer of that size is made.
    check(ctx.userMapped(a.data_uptr, userLen), 'EFAULT', 'data_uptr');
    check(ctx.writeUser(a.data_uptr, bytes.subarray(0, copyLen)), 'EFAULT', 'data_uptr');
    check(ctx.clearUser(a.data_uptr + BigInt(copyLen), userLen - copyLen), 'EFAULT', 'data_uptr');
  }
  return {
    data_len: bytes.length,
    out_data_type: type,
    out_capabilities: unit.capabilities(dev.dev),
    out_max_pasid_log2: unit.maxPasidLog2(dev.dev),
  };
}
