/**
 * UNMAP clears the IOPTEs but never invalidates the IOTLBs (no iotlb_sync): a device that had
 * cached a translation keeps reaching the old page after IOMMU_IOAS_UNMAP returned — the
 * use-after-unmap a forgotten TLB flush causes on real hardware, invisible to any test that
 * does not DMA through a cached translation.
 */
import { PagingDomain } from '../../../reference/iommufd/domain.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const unmapSkipsIotlbFlush: Mutant = {
  name: 'unmap-skips-iotlb-flush',
  models: 'iommu_unmap without iotlb_sync: cached translations outlive the unmap',
  violates: ['IOTLB-KERN-1', 'IOTLB-KERN-3'],
  areas: ['iotlb/*'],
  install: () => Patches.install((p) => p.method(PagingDomain.prototype, 'unmap', () => function (this: PagingDomain, iova: bigint, lengthBytes: number): void {
    // BUG: the table changes, the IOTLBs are not told.
    this.table.unmap(iova, lengthBytes);
  })),
};
