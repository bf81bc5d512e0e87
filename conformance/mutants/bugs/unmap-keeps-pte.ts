/**
 * UNMAP drops the area from the IOAS and unpins its pages but never tells the domains: every
 * domain keeps the old IOPTEs, so a device still translates the IOVA to a page that is no
 * longer pinned (the use-after-unmap a missing IOTLB/PTE flush causes).
 */
import type { PagingDomain } from '../../../reference/iommufd/domain.ts';
import { IoPagetable, type Area } from '../../../reference/iommufd/io-pagetable.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const unmapKeepsPte: Mutant = {
  name: 'unmap-keeps-pte',
  models: 'areas leave the IOAS without being unmapped from its domains (stale translation)',
  violates: ['IOAS-UNMAP-7', 'DEV-DMA-1'],
  areas: ['ioas/unmap/*', 'devices/dma/*'],
  install: () => Patches.install((p) => p.method(IoPagetable.prototype, 'unmapAreaFrom', () => function (this: IoPagetable, _area: Area, _domain: PagingDomain): void {
    // BUG: no domain.table.unmap()
  })),
};
