/**
 * When an area leaves a domain, the driver is asked to unmap one page fewer than the area
 * covers (a `npages - 1` loop bound): the area is gone from the IOAS, its pages are unpinned,
 * yet the device still reaches the last page through the stale IOPTE.
 */
import { PAGE_BYTES } from '../../../reference/machine/process-memory.ts';
import type { PagingDomain } from '../../../reference/iommufd/domain.ts';
import { IoPagetable, type Area } from '../../../reference/iommufd/io-pagetable.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const unmapLastPageLeftMapped: Mutant = {
  name: 'unmap-last-page-left-mapped',
  models: 'the domain unmap of an area stops one page short: the last IOPTE stays',
  violates: ['IOAS-UNMAP-7', 'DEV-DMA-1'],
  areas: ['ioas/unmap/*', 'devices/dma/*', 'ioas/map/*'],
  install: () => Patches.install((p) => p.method(IoPagetable.prototype, 'unmapAreaFrom', () => function (this: IoPagetable, area: Area, domain: PagingDomain): void {
    const bytes = area.lengthBytes - PAGE_BYTES; // BUG: one page short
    if (bytes > 0) domain.table.unmap(area.start, bytes);
  })),
};
