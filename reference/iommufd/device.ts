/**
 * Devices in an iommufd context (device.c): binding through the external driver (VFIO cdev
 * BIND), attaching the RID or a PASID to an IOAS (automatic domain) or a HWPT, replacing and
 * detaching, and the iommu_group rule that every device of a group uses the same HWPT.
 *
 * Order of work in an attach follows Linux: compatibility (PASID rules) → group rule → the
 * device's reserved regions in the HWPT's IOAS (EADDRINUSE; RID attaches only: since PASID
 * attach exists, v6.13, iommufd_hw_pagetable_attach enforces them only for IOMMU_NO_PASID, and
 * a RID detach or a RID replace to another IOAS removes them) → the driver's attach verdict. An
 * automatic domain is first searched among the IOAS's auto HWPTs (EINVAL from an attempt means
 * "incompatible, try the next"), else allocated, added to the IOAS, attached, and only then
 * given its ID. Every failing step undoes the steps before it.
 *
 * Invariant: `dev.hwpt` (and each PASID entry) holds one `users` reference on its HWPT; an auto
 * HWPT whose last user goes away is destroyed on the spot.
 */

import type { FailNth } from './fail-nth.ts';
import type { DomainSpec } from '../iommu/unit.ts';
import { deviceAttached } from '../iotlb/unit-iotlb.ts';
import type { IommufdContext } from './context.ts';
import { check, fail, UapiError } from './errors.ts';
import { createHwptPaging, destroyHwpt } from './hwpt.ts';
import type { HwptObject, HwptPagingObject, IoasObject } from './objects.ts';
import { DeviceObject } from './objects.ts';
import { destroyVdevice } from './viommu.ts';
import { iopfDisabled } from './fault.ts';

export const IOMMU_NO_PASID = 0;

const pagingOf = (hwpt: HwptObject): HwptPagingObject => (hwpt.kind === 'HWPT_PAGING' ? hwpt : hwpt.parent);
const specOf = (hwpt: HwptObject): DomainSpec => (hwpt.kind === 'HWPT_PAGING' ? hwpt.domain.spec : hwpt.nested);
const pasidCompat = (hwpt: HwptObject): boolean => (hwpt.kind === 'HWPT_PAGING' ? hwpt.domain.spec.pasid : hwpt.nested.pasid);

function currentHwpt(dev: DeviceObject, pasid: number): HwptObject | null {
  return pasid === IOMMU_NO_PASID ? dev.hwpt : (dev.pasids.get(pasid) ?? null);
}

/** Devices of the same iommu_group bound in this context, other than `dev`. */
function groupPeers(ctx: IommufdContext, dev: DeviceObject): DeviceObject[] {
  if (dev.dev.group === undefined) return [];
  return ctx.devices().filter((d) => d !== dev && d.dev.group === dev.dev.group);
}

/** iommufd_hwpt_pasid_compat. */
function checkPasidCompat(dev: DeviceObject, hwpt: HwptObject, pasid: number): void {
  if (pasid === IOMMU_NO_PASID) {
    check(pasidCompat(hwpt) || dev.pasids.size === 0, 'EINVAL', 'PASIDs attached: the RID needs a PASID-capable HWPT');
  } else {
    check(pasidCompat(hwpt), 'EINVAL', 'HWPT was not allocated with IOMMU_HWPT_ALLOC_PASID');
    check(dev.hwpt === null || pasidCompat(dev.hwpt), 'EINVAL', 'RID is on a HWPT that is not PASID-capable');
  }
}

/** The driver's verdict on `hwpt` for this device (owner, then attach_dev / set_dev_pasid). */
function driverAttach(dev: DeviceObject, hwpt: HwptObject, pasid: number): void {
  const spec = specOf(hwpt);
  check(spec.unit.model === dev.dev.unit.model, 'EINVAL', 'domain belongs to another IOMMU driver');
  let errno: string | null;
  if (pasid === IOMMU_NO_PASID) errno = dev.dev.unit.checkAttach(dev.dev, spec);
  else {
    check(dev.dev.unit.setDevPasid !== undefined, 'EOPNOTSUPP', 'driver has no PASID support');
    errno = dev.dev.unit.setDevPasid(dev.dev, spec, pasid);
  }
  if (errno !== null) fail(errno, 'driver refused the attach');
}

/** iopt_table_enforce_dev_resv_regions into the HWPT's IOAS; returns the undo. */
function reserveDeviceRegions(dev: DeviceObject, hwpt: HwptObject, failNth: FailNth): () => void {
  const iopt = pagingOf(hwpt).ioas.iopt;
  const owner = dev;
  try {
    // Its fail_iommufd point comes before it takes the IOVA lock (io_pagetable.c, EINVAL).
    failNth.point('iopt_table_enforce_dev_resv_regions', 'EINVAL');
    for (const r of dev.dev.unit.reservedRegions(dev.dev)) {
      if (r.kind === 'direct-relaxable') continue;
      iopt.reserve(r.start, r.last, owner);
    }
  } catch (e) {
    iopt.removeReserved(owner);
    throw e;
  }
  return () => iopt.removeReserved(owner);
}

/**
 * Attaches (or, with `replace`, replaces) the device's RID or PASID onto `hwpt`. Returns the
 * HWPT it was on before (replace) so the caller can drop it.
 */
function doAttach(ctx: IommufdContext, dev: DeviceObject, hwpt: HwptObject, pasid: number, replace: boolean): HwptObject | null {
  const old = currentHwpt(dev, pasid);
  if (pasid !== IOMMU_NO_PASID) check(dev.dev.pasid, 'EINVAL', 'device has no PASID support');
  checkPasidCompat(dev, hwpt, pasid);
  if (replace) {
    check(old !== null, 'EINVAL', 'replace of a detached device');
    if (old === hwpt) return null;
  } else {
    if (pasid !== IOMMU_NO_PASID) check(old === null, 'EBUSY', 'PASID already attached');
    else check(old === null || old === hwpt, 'EINVAL', 'device already attached elsewhere');
  }
  if (pasid === IOMMU_NO_PASID) {
    for (const peer of groupPeers(ctx, dev)) {
      if (peer.hwpt !== null && peer.hwpt !== hwpt && !(replace && peer.hwpt === old)) fail('EINVAL', 'group is attached to another HWPT');
    }
  }
  // A RID replace moves the whole iommu_group (igroup): peers on the old HWPT follow.
  const movers = pasid === IOMMU_NO_PASID && replace ? [dev, ...groupPeers(ctx, dev).filter((p) => p.hwpt === old)] : [dev];
  const samePaging = old !== null && pagingOf(old).ioas === pagingOf(hwpt).ioas;
  // attach_resv / the replace's reserved-IOVA move: the RID only.
  const moveReserved = pasid === IOMMU_NO_PASID && !samePaging;
  const undos: Array<() => void> = [];
  // iommufd_hw_pagetable_attach allocates the group's attach entry for the PASID (and its slot
  // in the device array) before the reserved regions, and iommufd_hwpt_attach_device (or the
  // replace) the attach handle after them: allocation points, before anything is committed.
  if (!replace) ctx.machine.failNth.point('pasid attach entry');
  try {
    if (moveReserved) for (const m of movers) undos.push(reserveDeviceRegions(m, hwpt, ctx.machine.failNth));
    // iommufd_hwpt_compatible_device (v6.16+; iommufd_fault_iopf_enable before): PRI is shared
    // between a PF and its VFs, so a VF with PRI takes no HWPT with a FAULT.
    if (hwpt.fault !== null) check(!(dev.dev.vfToken !== null && dev.dev.pri === true), 'EINVAL', 'an SR-IOV VF with PRI cannot take a HWPT with a FAULT');
    ctx.machine.failNth.point('attach handle');
    driverAttach(dev, hwpt, pasid);
    // The driver enables IOPF for a domain with a fault handler after its compatibility checks
    // (intel_iommu_attach_device / set_dev_pasid → iopf_for_domain_set; arm_smmu_attach_prepare).
    if (hwpt.fault !== null) {
      const errno = dev.dev.unit.iopfEnable?.(dev.dev) ?? null;
      if (errno !== null) fail(errno, 'the device cannot take I/O page faults');
    }
  } catch (e) {
    for (const u of undos) u();
    throw e;
  }
  for (const m of movers) {
    if (old !== null && moveReserved) pagingOf(old).ioas.iopt.removeReserved(m);
    hwpt.users++;
    if (pasid !== IOMMU_NO_PASID) dev.pasids.set(pasid, hwpt);
    else m.hwpt = hwpt;
    // The caller drops the device's own reference on `old`; the peers' go here.
    if (m !== dev && old !== null) old.users--;
    // iommufd_hwpt_replace_device: faults pending through the old HWPT's handle are answered INVALID.
    if (old !== null && old !== hwpt && old.fault !== null) old.fault.autoRespond(old, m, pasid);
    // The driver's context / PASID entry now names the new domain; the old tag is flushed.
    deviceAttached(m.dev, pasid, hwpt.kind === 'HWPT_PAGING' ? hwpt.domain : { nested: hwpt.nested, parent: hwpt.parent.domain });
    if (old !== null && old.fault !== null && !hasFaultAttachment(m)) iopfDisabled(m);
  }
  return old;
}

/**
 * Whether the RID or a PASID of the device is on a HWPT with a FAULT: while one is, the driver
 * keeps the device's IOPF enabled (its refcount), and so its held partial requests.
 */
function hasFaultAttachment(dev: DeviceObject): boolean {
  if (dev.hwpt?.fault) return true;
  for (const h of dev.pasids.values()) if (h.fault !== null) return true;
  return false;
}

/** iommufd_hw_pagetable_put: an auto HWPT dies with its last user. */
export function putHwpt(ctx: IommufdContext, hwpt: HwptObject): void {
  hwpt.users--;
  if (hwpt.kind === 'HWPT_PAGING' && hwpt.autoDomain && hwpt.users === 0) destroyHwpt(ctx, hwpt);
}

/** iommufd_device_auto_get_domain: reuse a compatible auto HWPT of the IOAS, else make one. */
function autoGetDomain(ctx: IommufdContext, dev: DeviceObject, ioas: IoasObject, pasid: number, replace: boolean): { hwpt: HwptObject; old: HwptObject | null } {
  check(pasid === IOMMU_NO_PASID, 'EINVAL', 'no automatic domains for PASIDs');
  for (const h of ioas.hwpts) {
    if (!h.autoDomain) continue;
    try {
      return { hwpt: h, old: doAttach(ctx, dev, h, pasid, replace) };
    } catch (e) {
      if (e instanceof UapiError && e.errno === 'EINVAL') continue;
      throw e;
    }
  }
  const hwpt = createHwptPaging(ctx, ioas, dev, 0, null);
  try {
    const old = doAttach(ctx, dev, hwpt, pasid, replace);
    hwpt.autoDomain = true;
    ctx.table.add(hwpt);
    return { hwpt, old };
  } catch (e) {
    destroyHwpt(ctx, hwpt);
    throw e;
  }
}

/**
 * iommufd_device_attach / _replace: `ptId` names an IOAS (automatic domain), a HWPT_PAGING or a
 * HWPT_NESTED. Returns the ID of the HWPT actually attached.
 */
export function attachDevice(ctx: IommufdContext, dev: DeviceObject, ptId: number, pasid: number, replace: boolean): number {
  const pt = ctx.table.get(ptId);
  let hwpt: HwptObject;
  let old: HwptObject | null;
  if (pt.kind === 'HWPT_PAGING' || pt.kind === 'HWPT_NESTED') {
    hwpt = pt as HwptObject;
    old = doAttach(ctx, dev, hwpt, pasid, replace);
  } else if (pt.kind === 'IOAS') {
    ({ hwpt, old } = autoGetDomain(ctx, dev, pt as IoasObject, pasid, replace));
  } else {
    return fail('EINVAL', 'pt_id is neither an IOAS nor a HWPT');
  }
  if (old !== null && old !== hwpt) putHwpt(ctx, old);
  return hwpt.id;
}

/** iommufd_device_detach: the RID or PASID goes to blocking; a detached PASID is fine. */
export function detachDevice(ctx: IommufdContext, dev: DeviceObject, pasid: number): void {
  const hwpt = currentHwpt(dev, pasid);
  if (hwpt === null) {
    check(pasid !== IOMMU_NO_PASID, 'EINVAL', 'device is not attached');
    return;
  }
  if (pasid !== IOMMU_NO_PASID) dev.dev.unit.setDevPasid?.(dev.dev, 'blocked', pasid);
  if (pasid === IOMMU_NO_PASID) dev.hwpt = null;
  else dev.pasids.delete(pasid);
  deviceAttached(dev.dev, pasid, null);
  // iommufd_hwpt_detach_device: the handle's pending faults are answered INVALID.
  hwpt.fault?.autoRespond(hwpt, dev, pasid);
  if (hwpt.fault !== null && !hasFaultAttachment(dev)) iopfDisabled(dev);
  if (pasid === IOMMU_NO_PASID) pagingOf(hwpt).ioas.iopt.removeReserved(dev);
  putHwpt(ctx, hwpt);
}

/**
 * Unbind (VFIO device fd closed): every PASID, then the RID, then (v6.17+,
 * iommufd_device_pre_destroy) its vDEVICE is destroyed with its ID left a tombstone, then the
 * object goes.
 */
export function unbindDevice(ctx: IommufdContext, dev: DeviceObject): void {
  for (const pasid of [...dev.pasids.keys()]) detachDevice(ctx, dev, pasid);
  if (dev.hwpt !== null) detachDevice(ctx, dev, IOMMU_NO_PASID);
  if (dev.vdev !== null) destroyVdevice(ctx, dev.vdev, true);
  ctx.table.remove(dev);
  ctx.machineBindings.delete(dev.dev.name);
}

/**
 * VFIO_DEVICE_BIND_IOMMUFD by topology name (the name stands for the device fd): ENODEV for a
 * name the topology lacks; EINVAL when already bound (vfio_df_ioctl_bind_iommufd: "one device
 * cannot be bound twice", df->access_granted); then the VF token (`tokenPtr`: the user address
 * of the 16-byte UUID when VFIO_DEVICE_BIND_FLAG_TOKEN is set, else null).
 */
export function bindDevice(ctx: IommufdContext, name: string, tokenPtr: bigint | null = null): DeviceObject {
  const dev = ctx.machine.topology.devices.get(name);
  check(dev !== undefined, 'ENODEV', `no device '${name}' in the topology`);
  check(!ctx.machineBindings.has(name), 'EINVAL', `device '${name}' is already bound`);
  checkVfToken(ctx, dev.vfToken, tokenPtr);
  ctx.machine.failNth.point('device object');
  const obj = new DeviceObject(dev);
  ctx.table.add(obj);
  ctx.machineBindings.set(name, obj);
  return obj;
}

/**
 * vfio_df_check_token with vfio-pci's match_token_uuid (vfio_pci_core_match_token_uuid →
 * vfio_pci_validate_vf_token): every topology device is a vfio-pci device. With the flag the
 * UUID is read first (EFAULT). A VF of a vfio-pci PF needs the PF's token: none or another one
 * is EACCES. Any other device refuses a token with EINVAL ("not a PF or VF", "PF not bound to
 * vfio-pci"). A PF with VFs in use checks its token the same way as its VFs do; a PF without
 * VFs in use that takes a token (setting it) is not modelled.
 */
function checkVfToken(ctx: IommufdContext, vfToken: string | null, tokenPtr: bigint | null): void {
  let given: string | null = null;
  if (tokenPtr !== null) {
    const bytes = ctx.readUser(tokenPtr, 16);
    check(bytes !== null, 'EFAULT', 'token_uuid_ptr');
    given = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }
  if (vfToken === null) {
    check(given === null, 'EINVAL', 'a VF token for a device that is neither a VF of a vfio-pci PF nor a PF with VFs');
    return;
  }
  check(given !== null, 'EACCES', 'VF token required to access device');
  check(given === vfToken, 'EACCES', 'incorrect VF token');
}
