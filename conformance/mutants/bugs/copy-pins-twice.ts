/**
 * IOMMU_IOAS_COPY looks the source range up and then pins the user memory again for the
 * destination, through a new page store, instead of sharing the source's iopt_pages: every
 * page is pinned twice and charged twice against RLIMIT_MEMLOCK.
 */
import { IoPagetable, type PagesSlice } from '../../../reference/iommufd/io-pagetable.ts';
import { IoptPages } from '../../../reference/iommufd/pages.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const copyPinsTwice: Mutant = {
  name: 'copy-pins-twice',
  models: 'COPY re-pins and re-charges the source pages instead of sharing them',
  violates: ['ACCT-LIMIT-3', 'ACCT-PIN-1', 'IOAS-COPY-7'],
  areas: ['accounting/*', 'ioas/copy/*'],
  install: () => Patches.install((p) => p.method(IoPagetable.prototype, 'getPages', (original) => function (this: IoPagetable, iova: bigint, length: bigint): PagesSlice[] {
    const slices = original.call(this, iova, length) as PagesSlice[];
    // BUG: a fresh store over the same memory, so its pins and charges are its own.
    return slices.map((s) => ({
      ...s,
      pages: new IoptPages(s.pages.memory, s.pages.accounting, s.pages.source, s.pages.npages, s.pages.writable, s.pages.accountMode, s.pages.baseAddrBytes),
    }));
  })),
};
