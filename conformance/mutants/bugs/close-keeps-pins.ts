/**
 * close(2) takes a "fast path": since everything is going away, the teardown frees the page
 * tables and the objects without unpinning the areas' pages, so the pins and the
 * RLIMIT_MEMLOCK charge outlive the file.
 */
import { IommufdContext } from '../../../reference/iommufd/context.ts';
import { IoPagetable, type Area } from '../../../reference/iommufd/io-pagetable.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const closeKeepsPins: Mutant = {
  name: 'close-keeps-pins',
  models: 'closing /dev/iommu destroys every object but leaves the areas\' pages pinned and charged',
  violates: ['GEN-CLOSE-1', 'ACCT-PIN-2'],
  areas: ['general/close/*', 'accounting/*', 'ioas/map/*'],
  install: () => {
    let closing = 0;
    return Patches.install((p) => {
      p.method(IommufdContext.prototype, 'close', (original) => function (this: IommufdContext): void {
        closing++;
        try {
          original.call(this);
        } finally {
          closing--;
        }
      });
      p.method(IoPagetable.prototype, 'unfillArea', (original) => function (this: IoPagetable, a: Area): void {
        if (closing > 0) {
          a.filled = false; // BUG: no unpin on the release path
          return;
        }
        original.call(this, a);
      });
    });
  },
};
