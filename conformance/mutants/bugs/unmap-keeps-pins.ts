/**
 * UNMAP removes the area and its IOPTEs but forgets to unpin its pages: they stay pinned and
 * charged to RLIMIT_MEMLOCK for the life of the process (the leak an `iopt_area_unfill_domain`
 * without `iopt_pages_unfill` would cause).
 */
import { IoPagetable, type Area } from '../../../reference/iommufd/io-pagetable.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

interface Internals {
  domains: IoPagetable['domains'];
  unmapAreaFrom(a: Area, d: IoPagetable['domains'][number]): void;
  removeExtent(start: bigint, last: bigint): void;
}

export const unmapKeepsPins: Mutant = {
  name: 'unmap-keeps-pins',
  models: 'an unmapped area never unpins (nor uncharges) the pages it pinned',
  violates: ['ACCT-PIN-2', 'IOAS-UNMAP-7'],
  areas: ['accounting/*', 'ioas/unmap/*'],
  install: () => Patches.install((p) => p.method(IoPagetable.prototype, 'dismantleArea', () => function (this: Internals, a: Area): void {
    for (const d of this.domains) this.unmapAreaFrom(a, d);
    a.filled = false; // BUG: the pin it held is dropped on the floor, not unpinned
    this.removeExtent(a.start, a.last);
    a.pages.areaRefs--;
  })),
};
