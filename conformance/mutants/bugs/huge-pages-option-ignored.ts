/**
 * IOMMU_OPTION HUGE_PAGES = 0 is stored (GET reads it back, the IOAS alignment rises) but
 * mapping into the domains ignores it: large IOPTEs are still used, so a later partial unmap
 * (VFIO type1) would have to split them.
 */
import { PAGE_BYTES } from '../../../reference/machine/process-memory.ts';
import type { PagingDomain } from '../../../reference/iommufd/domain.ts';
import { IoPagetable, areaFirstByte, areaFirstPage, areaLastPage, type Area } from '../../../reference/iommufd/io-pagetable.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const hugePagesOptionIgnored: Mutant = {
  name: 'huge-pages-option-ignored',
  models: 'HUGE_PAGES = 0 does not limit the IOPTE sizes used when mapping',
  violates: ['OPT-HUGE-2', 'OPT-HUGE-3', 'VFIO-HUGE-1'],
  areas: ['options/huge-pages/*', 'vfio-compat/*', 'hw/huge-pages/*'],
  install: () => Patches.install((p) => p.method(IoPagetable.prototype, 'mapAreaInto', () => function (this: IoPagetable, area: Area, domain: PagingDomain): void {
    const pgsize = domain.spec.pgsizeBitmap; // BUG: disableLargePages is not consulted
    const firstByte = areaFirstByte(area);
    const endByte = firstByte + area.lengthBytes;
    area.pages.forEachFrameRun(areaFirstPage(area), areaLastPage(area) - areaFirstPage(area) + 1, (index, pfn, count) => {
      const runFirst = Math.max(firstByte, index * PAGE_BYTES);
      const runEnd = Math.min(endByte, (index + count) * PAGE_BYTES);
      domain.table.map(area.start + BigInt(runFirst - firstByte), pfn * PAGE_BYTES + (runFirst - index * PAGE_BYTES), runEnd - runFirst, area.prot, pgsize);
    });
  })),
};
