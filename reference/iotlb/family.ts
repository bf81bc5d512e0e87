/**
 * What a hardware family tells the IOTLB of one of its units: how entries are tagged (the
 * context `kind, group, sub` of a domain bound to a device or PASID), which ids the driver
 * allocates for that and when, and what the driver sends the hardware when the kernel changes
 * a domain it owns (an unmap, a detach) — expressed as the family's own architectural
 * invalidation commands, so the kernel paths and the user-owned commands share one semantics.
 *
 * Invariant: a family never touches a page table; it only selects cache entries.
 */

import type { NestedDomain, PagingDomainSpec, UnitDevice } from '../iommu/unit.ts';
import type { ByteRange, IotlbEngine } from './engine.ts';
import type { IdAllocator } from './ids.ts';

export interface Tag {
  kind: number;
  group: number;
  sub: number;
  /** Ids allocated for this one binding (AMD's per-device GCR3 domain id), freed at unbind. */
  free?: () => void;
}

/** Allocators shared by every unit of a machine (ids the drivers keep in one global space). */
export interface SharedIds {
  get(name: string, min: number, max: number): IdAllocator;
}

/** The unit-side state a family works with. */
export interface FamilyUnit {
  readonly engine: IotlbEngine;
  readonly knobs: Readonly<Record<string, unknown>>;
  readonly shared: SharedIds;
  /** Allocators of this unit only. */
  local(name: string, min: number, max: number): IdAllocator;
}

/** Id state a family keeps: `domain` for ids of the domain itself, `unit` for ids of the domain on one unit. */
export type DomainIds = Record<string, number>;
export interface BindIds {
  domain: DomainIds;
  unit: DomainIds;
}

export interface Family {
  readonly name: string;
  /** Ids the driver allocates with the domain (domain_alloc_paging); freed by domainFreed. */
  domainAllocated(u: FamilyUnit, spec: PagingDomainSpec, ids: DomainIds): void;
  domainFreed(u: FamilyUnit, spec: PagingDomainSpec, ids: DomainIds): void;
  /** The tag of `spec` attached to (dev, pasid) on `u`; may allocate per-unit ids (VT-d DID, refcounted by the caller). */
  bind(u: FamilyUnit, spec: PagingDomainSpec, ids: BindIds, dev: UnitDevice, pasid: number): Tag;
  /** The device (or PASID) leaves the domain: the driver's teardown flush. */
  unbind(u: FamilyUnit, spec: PagingDomainSpec, tag: Tag, lastOnUnit: boolean): void;
  /** The domain's last device on `u` left: per-unit ids go back (VT-d domain_detach_iommu). */
  unitReleased(u: FamilyUnit, unitIds: DomainIds): void;
  /**
   * The tag of a nested domain (user-owned stage 1 over a kernel stage 2) bound to (dev, pasid);
   * `sub` −1 = taken from the guest's configuration at the first walk (SMMUv3 CD.ASID). Absent:
   * the family's nested translations are not cached.
   */
  bindNested?(u: FamilyUnit, ids: BindIds, parentIds: DomainIds, pasid: number, nested: NestedDomain): Tag;
  /** A nested domain over this parent saw its parent change [range] (VT-d: the nesting cache tag's flush). */
  flushNestedOfParent?(u: FamilyUnit, tag: Tag, range: ByteRange | null): void;
  /** IOMMU_HWPT_INVALIDATE entries on a nested domain (VT-d VTD_S1), applied to one of its tags. */
  userInvalidate?(u: FamilyUnit, tag: Tag, dataType: number, entry: Uint8Array): void;
  /** The kernel changed [range] of the domain (unmap, dirty clear): the driver's iotlb_sync for one tag. */
  flushRange(u: FamilyUnit, spec: PagingDomainSpec, tag: Tag, range: ByteRange): void;
  /** The driver's whole-domain flush for one tag (dirty-tracking switch, domain-wide sync). */
  flushAll(u: FamilyUnit, spec: PagingDomainSpec, tag: Tag): void;
  /**
   * Tags belong to the domain for its whole life, not to its attachments (SMMUv3: the ASID/VMID
   * is the domain's, and iotlb_sync invalidates it on the SMMU whether or not a master is
   * attached), so unmaps after the last detach still flush them.
   */
  readonly domainScopedTags: boolean;
  /** Whether switching dirty tracking makes the driver flush the domain (VT-d, AMD: the PASID entry / DTE changes). */
  readonly flushOnDirtySwitch: boolean;
}
