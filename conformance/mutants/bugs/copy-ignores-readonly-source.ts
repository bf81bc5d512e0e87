/**
 * IOMMU_IOAS_COPY with WRITEABLE does not check that the source pages were mapped writeable:
 * a read-only user mapping becomes device-writeable through a copy.
 */
import type { Prot } from '../../../reference/iommufd/domain.ts';
import { IoPagetable, type PagesSlice } from '../../../reference/iommufd/io-pagetable.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const copyIgnoresReadonlySource: Mutant = {
  name: 'copy-ignores-readonly-source',
  models: 'COPY with WRITEABLE from read-only source pages succeeds (no EPERM)',
  violates: ['IOAS-COPY-8'],
  areas: ['ioas/copy/*'],
  install: () => Patches.install((p) => p.method(IoPagetable.prototype, 'mapPages', (original) => function (this: IoPagetable, slices: PagesSlice[], lengthBytes: number, iova: bigint | null, prot: Prot): bigint {
    // BUG: the per-slice writability test is skipped (modelled by presenting the stores as writable for the call).
    const stores = slices.map((s) => s.pages as { writable: boolean });
    const was = stores.map((s) => s.writable);
    for (const s of stores) s.writable = true;
    try {
      return original.call(this, slices, lengthBytes, iova, prot) as bigint;
    } finally {
      stores.forEach((s, i) => {
        s.writable = was[i];
      });
    }
  })),
};
