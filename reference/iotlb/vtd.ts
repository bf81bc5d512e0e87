/**
 * Intel VT-d (scalable mode): IOTLB entries are tagged with the domain id (DID) of the PASID
 * table entry that made them, and first-stage and nested entries also with the PASID (VT-d spec
 * §6.2.1; second-stage-only entries are shared by every PASID of the DID). Invalidation (§6.5.2):
 * the IOTLB descriptor (type 2: global, domain-selective, page-selective-within-domain with
 * ADDR/AM/IH) and the PASID-based-IOTLB descriptor (type 6: PASID-selective or page-selective
 * within PASID). In scalable mode a type-2 PSI also drops every first-stage and nested entry of
 * the DID, whatever the address; a type-6 invalidation never drops second-stage-only entries.
 * IH = 1 keeps the paging-structure caches (PML5/PML4/PDPE/PDE caches).
 *
 * Driver (drivers/iommu/intel/iommu.c domain_attach_iommu, cache.c, pasid.c): a DID per
 * (domain, unit) from ida_alloc_range(IDA_START_DID = 2, cap_ndoms − 1), refcounted by the
 * devices of that unit; cache_tag_flush_range turns [start, end] into ADDR/AM
 * (calculate_psi_aligned_address) and falls back to domain- or PASID-selective when AM > MAMV;
 * intel_pasid_tear_down_entry flushes the DID (second stage) or the PASID (first stage) when a
 * device leaves.
 */

import type { PagingDomainSpec } from '../iommu/unit.ts';
import type { ByteRange, IotlbEngine } from './engine.ts';
import type { Family, FamilyUnit, Tag } from './family.ts';
import { vtdAddrMask } from './range.ts';

export const VTD_SS = 0;
export const VTD_FS = 1;
export const VTD_NESTED = 2;
const FS_AND_NESTED = (1 << VTD_FS) | (1 << VTD_NESTED);

/** CAP.MAMV of the model (reference/iommu/intel-vtd.ts: fixed 18). */
export const VTD_MAMV = 18;
/** MAX_AGAW_PFN_WIDTH: the mask that means "every address". */
const MAX_AGAW_PFN_WIDTH = 52;

export type VtdIotlbGranularity = 'global' | 'domain' | 'page';

/** Invalidation descriptor type 2 (IOTLB invalidate), §6.5.2.3. */
export function vtdIotlbInvalidate(e: IotlbEngine, g: VtdIotlbGranularity, did = 0, addr = 0n, am = 0, ih = false): void {
  if (g === 'global') return e.invalidate({});
  if (g === 'domain') return e.invalidate({ group: did });
  e.invalidate({ kinds: 1 << VTD_SS, group: did }, { range: vtdAddrMask(addr, am), leafOnly: ih });
  e.invalidate({ kinds: FS_AND_NESTED, group: did });
}

/** Invalidation descriptor type 6 (PASID-based IOTLB invalidate), §6.5.2.6: G = 2 PASID-selective, 3 page-selective. */
export function vtdPiotlbInvalidate(e: IotlbEngine, g: 'pasid' | 'page', did: number, pasid: number, addr = 0n, am = 0, ih = false): void {
  if (g === 'pasid') return e.invalidate({ kinds: FS_AND_NESTED, group: did, sub: pasid });
  e.invalidate({ kinds: FS_AND_NESTED, group: did, sub: pasid }, { range: vtdAddrMask(addr, am), leafOnly: ih });
}

/** cache.c calculate_psi_aligned_address: [start, last] → (ADDR, AM) covering it, AM 52 = everything. */
export function vtdPsiAligned(start: bigint, last: bigint): { addr: bigint; am: number } {
  const startPfn = start >> 12n;
  const endPfn = last >> 12n;
  const pages = endPfn - startPfn + 1n;
  let mask = 0;
  while (1n << BigInt(mask) < pages) mask++;
  const aligned = 1n << BigInt(mask);
  if ((startPfn & (aligned - 1n)) !== 0n) {
    const shared = ~(startPfn ^ endPfn) & ~(aligned - 1n) & ((1n << 64n) - 1n);
    mask = MAX_AGAW_PFN_WIDTH;
    for (let b = 0; b < MAX_AGAW_PFN_WIDTH; b++) {
      if ((shared >> BigInt(b)) & 1n) {
        mask = b;
        break;
      }
    }
  }
  const addr = (startPfn & ~((1n << BigInt(mask)) - 1n)) << 12n;
  return { addr, am: mask };
}

/** cap_ndoms = 2^(4 + 2·CAP.ND); ids 0 (caching mode) and 1 (FLPT_DEFAULT_DID) are reserved. */
function didAllocator(u: FamilyUnit) {
  const nd = typeof u.knobs.nd === 'number' ? u.knobs.nd : 6;
  return u.local('did', 2, 2 ** (4 + 2 * nd) - 1);
}

function kindOf(spec: PagingDomainSpec): number {
  return spec.table.format === 'vtd-ss' ? VTD_SS : VTD_FS;
}

export const vtdFamily: Family = {
  name: 'intel-vtd',
  domainScopedTags: false,
  flushOnDirtySwitch: true,
  domainAllocated() {},
  domainFreed() {},
  bind(u, spec, ids, _dev, pasid) {
    if (ids.unit.did === undefined) {
      const did = didAllocator(u).alloc();
      if (did < 0) throw new Error('VT-d: no free domain ids');
      ids.unit.did = did;
    }
    const kind = kindOf(spec);
    return { kind, group: ids.unit.did, sub: kind === VTD_SS ? 0 : pasid };
  },
  unitReleased(u, unitIds) {
    if (unitIds.did !== undefined) didAllocator(u).free(unitIds.did);
  },
  unbind(u, _spec, tag) {
    if (tag.kind === VTD_SS) vtdIotlbInvalidate(u.engine, 'domain', tag.group);
    else vtdPiotlbInvalidate(u.engine, 'pasid', tag.group, tag.sub);
  },
  flushRange(u, _spec, tag, range) {
    const { addr, am } = vtdPsiAligned(range.start, range.last);
    if (tag.kind === VTD_SS) {
      if (am > VTD_MAMV) vtdIotlbInvalidate(u.engine, 'domain', tag.group);
      else vtdIotlbInvalidate(u.engine, 'page', tag.group, addr, am, false);
    } else if (am > VTD_MAMV) vtdPiotlbInvalidate(u.engine, 'pasid', tag.group, tag.sub);
    else vtdPiotlbInvalidate(u.engine, 'page', tag.group, tag.sub, addr, am, false);
  },
  flushAll(u, _spec, tag) {
    if (tag.kind === VTD_SS) vtdIotlbInvalidate(u.engine, 'domain', tag.group);
    else vtdPiotlbInvalidate(u.engine, 'pasid', tag.group, tag.sub);
  },
  bindNested(u, ids, _parentIds, pasid) {
    if (ids.unit.did === undefined) {
      const did = didAllocator(u).alloc();
      if (did < 0) throw new Error('VT-d: no free domain ids');
      ids.unit.did = did;
    }
    return { kind: VTD_NESTED, group: ids.unit.did, sub: pasid };
  },
  flushNestedOfParent(u, tag, range) {
    // cache.c CACHE_TAG_NESTING_IOTLB: a type-2 IOTLB invalidation with the nested domain's DID,
    // which in scalable mode drops every nested entry of that DID whatever the address.
    if (range === null) return vtdIotlbInvalidate(u.engine, 'domain', tag.group);
    const { addr, am } = vtdPsiAligned(range.start, range.last);
    if (am > VTD_MAMV) vtdIotlbInvalidate(u.engine, 'domain', tag.group);
    else vtdIotlbInvalidate(u.engine, 'page', tag.group, addr, am, false);
  },
  userInvalidate(u, tag, dataType, entry) {
    if (dataType !== IOMMU_HWPT_INVALIDATE_DATA_VTD_S1) return;
    const { addr, npages, leaf } = decodeVtdS1Invalidate(entry);
    // nested.c intel_nested_flush_cache: npages U64_MAX → cache_tag_flush_all, else the range with IH = LEAF.
    if (npages === U64_MAX) return vtdPiotlbInvalidate(u.engine, 'pasid', tag.group, tag.sub);
    if (npages === 0n) return;
    const r = vtdPsiAligned(addr, addr + npages * 4096n - 1n);
    if (r.am > VTD_MAMV) vtdPiotlbInvalidate(u.engine, 'pasid', tag.group, tag.sub);
    else vtdPiotlbInvalidate(u.engine, 'page', tag.group, tag.sub, r.addr, r.am, leaf);
  },
};

/** struct iommu_hwpt_vtd_s1_invalidate {addr, npages, flags, __reserved}: entries the driver accepted. */
export const IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 = 0;
const U64_MAX = (1n << 64n) - 1n;
export function decodeVtdS1Invalidate(entry: Uint8Array): { addr: bigint; npages: bigint; leaf: boolean } {
  const v = new DataView(entry.buffer, entry.byteOffset, entry.byteLength);
  return { addr: v.getBigUint64(0, true), npages: v.getBigUint64(8, true), leaf: (v.getUint32(16, true) & 1) !== 0 };
}

export type { FamilyUnit, Tag, ByteRange };
