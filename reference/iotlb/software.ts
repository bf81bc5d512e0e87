/**
 * The two units whose caches have no architectural tag of their own: the selftest `mock`
 * (a software IOMMU: one context per domain, iotlb_sync drops exactly the unmapped range) and
 * PowerPC TCE (the PHB's TCE cache is per PE; Linux's pnv_pci_ioda2_tce_invalidate kills the
 * TCEs of the range for the PE, _invalidate_pe the whole PE). A domain's number stands for its
 * PE / identity; its tag lives as long as the domain (an unmap after the last detach still
 * kills its range), handed out machine-wide from 1 (a mock domain may attach to devices of several mock units).
 */

import type { IotlbEngine, ByteRange } from './engine.ts';
import type { Family } from './family.ts';

export const SOFT_KIND = 0;

/** TCE kill (or mock sync): the range of one PE / domain, or all of it. */
export function killRange(e: IotlbEngine, group: number, range?: ByteRange): void {
  e.invalidate({ group }, range ? { range } : {});
}

function family(name: string): Family {
  return {
    name,
    domainScopedTags: true,
    flushOnDirtySwitch: false,
    domainAllocated(u, _spec, ids) {
      ids.id = u.shared.get(name + '-domain', 1, 2 ** 24 - 1).alloc();
    },
    domainFreed(u, _spec, ids) {
      u.shared.get(name + '-domain', 1, 2 ** 24 - 1).free(ids.id);
    },
    bind(_u, _spec, ids) {
      return { kind: SOFT_KIND, group: ids.domain.id, sub: 0 };
    },
    unbind() {},
    unitReleased() {},
    flushRange(u, _spec, tag, range) {
      killRange(u.engine, tag.group, range);
    },
    flushAll(u, _spec, tag) {
      killRange(u.engine, tag.group);
    },
  };
}

export const mockFamily = family('mock');
export const tceFamily = family('ppc-tce');
