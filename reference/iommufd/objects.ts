/**
 * The object table of one iommufd context and the object kinds the reference implements
 * (include/linux/iommufd.h: IOAS, DEVICE, HWPT_PAGING, HWPT_NESTED, ACCESS, VIOMMU, VDEVICE, FAULT, VEVENTQ, HW_QUEUE, and SELFTEST, the mock device a test kernel's IOMMU_TEST_OP_MOCK_DOMAIN makes). IDs come from an
 * xarray with ALLOC1 and a 31-bit limit: 1..INT_MAX, lowest free first, so destroyed IDs are
 * reused; 0 is never valid. Lookup of an unknown ID or of the wrong kind is ENOENT.
 *
 * `users` counts the references other objects hold (a HWPT on its IOAS, a device on its HWPT, a
 * nested HWPT on its parent, an access on its IOAS, an external driver on its device or access);
 * IOMMU_DESTROY of an object with users is EBUSY.
 *
 * Invariant: an object is in the table iff `id !== 0`; its ID is allocated only when its
 * creation commits (nothing can observe an ID reserved by a creation that fails).
 */

import type { NestedDomain } from '../iommu/unit.ts';
import type { Device } from '../machine/topology.ts';
import type { PagingDomain } from './domain.ts';
import { check, fail } from './errors.ts';
import type { IoPagetable } from './io-pagetable.ts';
import type { FaultObject } from './fault.ts';
import type { FailNth } from './fail-nth.ts';
import type { VdeviceObject, ViommuObject } from './viommu.ts';

export const INT_MAX = 0x7fffffff;

export type ObjectKind = 'IOAS' | 'DEVICE' | 'HWPT_PAGING' | 'HWPT_NESTED' | 'ACCESS' | 'VIOMMU' | 'VDEVICE' | 'FAULT' | 'VEVENTQ' | 'HW_QUEUE' | 'SELFTEST';

export abstract class IommufdObject {
  id = 0;
  users = 0;
  abstract readonly kind: ObjectKind;
}

export class IoasObject extends IommufdObject {
  readonly kind = 'IOAS';
  /** hwpt_list: every HWPT_PAGING made on this IOAS (auto and manual), in creation order. */
  readonly hwpts: HwptPagingObject[] = [];

  constructor(readonly iopt: IoPagetable) {
    super();
  }
}

export class HwptPagingObject extends IommufdObject {
  readonly kind = 'HWPT_PAGING';
  autoDomain = false;
  /** hwpt->fault: the FAULT object its I/O page faults go to (one `users` reference), or null. */
  fault: FaultObject | null = null;

  constructor(
    readonly ioas: IoasObject,
    readonly domain: PagingDomain,
  ) {
    super();
  }

  get nestParent(): boolean {
    return this.domain.spec.nestParent;
  }
}

export class HwptNestedObject extends IommufdObject {
  readonly kind = 'HWPT_NESTED';
  /** hwpt->fault: the FAULT object its I/O page faults go to (one `users` reference), or null. */
  fault: FaultObject | null = null;

  constructor(
    /** The NEST_PARENT (for a vIOMMU's nested HWPT: the vIOMMU's, not held by this HWPT). */
    readonly parent: HwptPagingObject,
    readonly nested: NestedDomain,
    /** Allocated on this vIOMMU (holds it), else null (holds `parent`). */
    readonly viommu: ViommuObject | null = null,
  ) {
    super();
  }
}

export type HwptObject = HwptPagingObject | HwptNestedObject;

export const isHwpt = (o: IommufdObject): o is HwptObject => o.kind === 'HWPT_PAGING' || o.kind === 'HWPT_NESTED';

export class DeviceObject extends IommufdObject {
  readonly kind = 'DEVICE';
  /** The RID attachment (NULL = blocked). */
  hwpt: HwptObject | null = null;
  /** PASID attachments. */
  readonly pasids = new Map<number, HwptObject>();
  /** idev->vdev: its vDEVICE (at most one, on any vIOMMU). */
  vdev: VdeviceObject | null = null;

  constructor(readonly dev: Device) {
    super();
    this.users = 1; // held by the binding driver (VFIO cdev) until unbind
  }
}

/**
 * IOMMUFD_OBJ_SELFTEST of type TYPE_IDEV (selftest.c): owns a mock device made for it and that
 * device's binding. No other object holds it; IOMMU_DESTROY (or close) detaches and unbinds the
 * device and removes it from the machine (iommufd_selftest_destroy).
 */
export class SelftestObject extends IommufdObject {
  readonly kind = 'SELFTEST';
  /** The iommufd device of the mock device, set once bound. */
  idev: DeviceObject | null = null;

  constructor(
    readonly device: Device,
    /** Removes the mock device from the machine (mock_dev_destroy). */
    readonly removeDevice: () => void,
  ) {
    super();
  }
}

export class ObjectTable {
  private readonly objects = new Map<number, IommufdObject>();
  /** Freed IDs below `next`, sorted ascending. */
  private readonly freeIds: number[] = [];
  /** Tombstoned IDs: gone (lookup ENOENT) but not reusable until the context closes. */
  private readonly tombstones = new Set<number>();
  private next = 1;

  /** Its injection point is iommufd_get_object's (see get). */
  constructor(private readonly failNth?: FailNth) {}

  add(obj: IommufdObject): number {
    let id: number;
    if (this.freeIds.length > 0) id = this.freeIds.shift()!;
    else {
      check(this.next <= INT_MAX, 'ENOSPC', 'object IDs exhausted');
      id = this.next++;
    }
    obj.id = id;
    this.objects.set(id, obj);
    return id;
  }

  remove(obj: IommufdObject): void {
    if (this.objects.get(obj.id) !== obj) throw new Error(`object ${obj.id} is not in the table`);
    this.objects.delete(obj.id);
    let lo = 0;
    let hi = this.freeIds.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.freeIds[mid] < obj.id) lo = mid + 1;
      else hi = mid;
    }
    this.freeIds.splice(lo, 0, obj.id);
    obj.id = 0;
  }

  /**
   * iommufd_object_tombstone_user: the object leaves the table but its ID stays taken (a later
   * DESTROY of it is ENOENT and no new object gets it) until the context is closed.
   */
  tombstone(obj: IommufdObject): void {
    if (this.objects.get(obj.id) !== obj) throw new Error(`object ${obj.id} is not in the table`);
    this.objects.delete(obj.id);
    this.tombstones.add(obj.id);
    obj.id = 0;
  }

  /**
   * iommufd_get_object: ENOENT for an unknown ID or a kind not in `kinds` (empty = any). Its
   * fail_iommufd point comes first and answers ENOENT too (main.c), whatever the ID.
   */
  get(id: number, ...kinds: ObjectKind[]): IommufdObject {
    this.failNth?.point('iommufd_get_object', 'ENOENT');
    return this.find(id, ...kinds);
  }

  /**
   * A lookup that is not iommufd_get_object, so no injection point: IOMMU_DESTROY
   * (iommufd_object_remove looks the ID up itself), an object the kernel reaches by a file or
   * a pointer (the selftest's access fd, a bound device), and the checks outside ioctls.
   */
  find(id: number, ...kinds: ObjectKind[]): IommufdObject {
    const obj = this.objects.get(id);
    // The message is built only on failure: this runs on every ioctl.
    if (obj === undefined || (kinds.length !== 0 && !kinds.includes(obj.kind))) fail('ENOENT', `no ${kinds.join('/') || 'object'} with id ${id}`);
    return obj;
  }

  ioas(id: number): IoasObject {
    return this.get(id, 'IOAS') as IoasObject;
  }

  device(id: number): DeviceObject {
    return this.get(id, 'DEVICE') as DeviceObject;
  }

  get size(): number {
    return this.objects.size;
  }

  /** Every object in ID order. */
  all(): IommufdObject[] {
    return [...this.objects.values()].sort((a, b) => a.id - b.id);
  }
}
