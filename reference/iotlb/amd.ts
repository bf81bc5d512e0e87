/**
 * AMD-Vi: IOTLB entries are tagged with the DTE's DomainID, guest (v2, GCR3) entries also with
 * the PASID (AMD IOMMU spec 48882 §2.4.3 INVALIDATE_IOMMU_PAGES: DomainID, PASID, GN, S, PDE,
 * Address). S = 0 names one 4 KiB page; S = 1 a naturally aligned power of two given by the
 * trailing ones of Address above bit 12 (all ones up to bit 62: every page). PDE = 1 also drops
 * the page-directory caches. GN = 1 selects guest entries of PASID. INVALIDATE_IOMMU_ALL drops
 * everything.
 *
 * Driver (drivers/iommu/amd/iommu.c): protection-domain ids from one machine-wide IDA
 * (pdom_id_alloc: 1..MAX_DOMAIN_ID − 1 = 0xfffe) at domain allocation; a v2 (PASID-capable)
 * domain's device gets its own id for its GCR3 table (setup_gcr3_table) at its first PASID
 * attach, shared by its PASIDs and freed with the last.
 * build_inv_address: one page → S = 0; else msb_diff = highest bit where start and end differ,
 * address bits below it set to 1, S = 1; msb_diff > 51 → every page. PDE is always set.
 * Detach flushes the whole domain (amd_iommu_domain_flush_all) [mem].
 */

import type { IotlbEngine } from './engine.ts';
import type { Family } from './family.ts';
import { napotRange } from './range.ts';

export const AMD_HOST = 0;
export const AMD_GUEST = 1;
/** CMD_INV_IOMMU_ALL_PAGES_ADDRESS. */
export const AMD_ALL_PAGES_ADDRESS = 0x7ffffffffffff000n;
const MAX_DOMAIN_ID = 0xffff;

export interface AmdInvalidatePages {
  domainId: number;
  pasid?: number;
  gn?: boolean;
  s: boolean;
  pde: boolean;
  address: bigint;
}

/** Command 03h INVALIDATE_IOMMU_PAGES. */
export function amdInvalidatePages(e: IotlbEngine, c: AmdInvalidatePages): void {
  const sel = c.gn ? { kinds: 1 << AMD_GUEST, group: c.domainId, sub: c.pasid ?? 0 } : { kinds: 1 << AMD_HOST, group: c.domainId };
  const range = napotRange(c.address, c.s);
  e.invalidate(sel, { range: range ?? undefined, leafOnly: !c.pde });
}

/** Command 08h INVALIDATE_IOMMU_ALL. */
export function amdInvalidateAll(e: IotlbEngine): void {
  e.invalidate({});
}

/** build_inv_address: [start, last] → (address, S). */
export function amdBuildInvAddress(start: bigint, last: bigint): { address: bigint; s: boolean } {
  if (start >> 12n === last >> 12n) return { address: start & ~0xfffn, s: false };
  let msbDiff = 63;
  const diff = start ^ last;
  while (msbDiff > 0 && ((diff >> BigInt(msbDiff)) & 1n) === 0n) msbDiff--;
  if (msbDiff > 51) return { address: AMD_ALL_PAGES_ADDRESS, s: true };
  return { address: (start | ((1n << BigInt(msbDiff)) - 1n)) & ~0xfffn, s: true };
}

const guest = (format: unknown): boolean => format === 'amd-v2';
/** setup_gcr3_table: a device's GCR3 domain id (per device, machine-wide ids). */
const gcr3Ids = new WeakMap<object, { id: number; refs: number }>();

export const amdFamily: Family = {
  name: 'amd-vi',
  domainScopedTags: false,
  flushOnDirtySwitch: true,
  domainAllocated(u, _spec, ids) {
    ids.pdom = u.shared.get('amd-pdom', 1, MAX_DOMAIN_ID - 1).alloc();
  },
  domainFreed(u, _spec, ids) {
    u.shared.get('amd-pdom', 1, MAX_DOMAIN_ID - 1).free(ids.pdom);
  },
  bind(u, spec, ids, dev, pasid) {
    if (!guest(spec.table.format)) return { kind: AMD_HOST, group: ids.domain.pdom, sub: 0 };
    // The device's GCR3 table has one domain id for all its PASIDs, held while any is attached.
    const pdoms = u.shared.get('amd-pdom', 1, MAX_DOMAIN_ID - 1);
    let g = gcr3Ids.get(dev);
    if (g === undefined) gcr3Ids.set(dev, (g = { id: pdoms.alloc(), refs: 0 }));
    g.refs++;
    const held = g;
    return {
      kind: AMD_GUEST,
      group: held.id,
      sub: pasid,
      free: () => {
        if (--held.refs === 0) {
          pdoms.free(held.id);
          gcr3Ids.delete(dev);
        }
      },
    };
  },
  unbind(u, _spec, tag) {
    if (tag.kind === AMD_HOST) amdInvalidatePages(u.engine, { domainId: tag.group, s: true, pde: true, address: AMD_ALL_PAGES_ADDRESS });
    else amdInvalidatePages(u.engine, { domainId: tag.group, pasid: tag.sub, gn: true, s: true, pde: true, address: AMD_ALL_PAGES_ADDRESS });
  },
  unitReleased() {},
  flushRange(u, _spec, tag, range) {
    const { address, s } = amdBuildInvAddress(range.start, range.last);
    amdInvalidatePages(u.engine, { domainId: tag.group, pasid: tag.sub, gn: tag.kind === AMD_GUEST, s, pde: true, address });
  },
  flushAll(u, _spec, tag) {
    amdInvalidatePages(u.engine, { domainId: tag.group, pasid: tag.sub, gn: tag.kind === AMD_GUEST, s: true, pde: true, address: AMD_ALL_PAGES_ADDRESS });
  },
};
