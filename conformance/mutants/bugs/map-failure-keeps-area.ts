/**
 * MAP inserts the area into the IOAS before filling the domains and does not take it out again
 * when pinning fails (RLIMIT_MEMLOCK, user memory gone): the call returns the right errno, but
 * a ghost area, mapped in no domain and pinning nothing, now occupies the IOVA range — a later
 * MAP there gets EEXIST and UNMAP "finds" bytes that were never mapped.
 */
import type { PagingDomain, Prot } from '../../../reference/iommufd/domain.ts';
import { UapiError } from '../../../reference/iommufd/errors.ts';
import { IoPagetable, type Area, type PagesSlice } from '../../../reference/iommufd/io-pagetable.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

/** Pin failures: the errnos mapPages raises only after the IOVA and every argument were checked. */
const PIN_ERRNOS = new Set(['ENOMEM', 'EFAULT']);

export const mapFailureKeepsArea: Mutant = {
  name: 'map-failure-keeps-area',
  models: 'a MAP that fails while pinning leaves its (unfilled) area in the IOAS',
  violates: ['IOAS-MAP-9', 'ACCT-LIMIT-2'],
  areas: ['accounting/*', 'ioas/map/*', 'ioas/copy/*'],
  install: () => {
    const ghosts = new WeakSet<Area>();
    return Patches.install((p) => {
      p.method(IoPagetable.prototype, 'mapPages', (original) => function (this: IoPagetable, slices: PagesSlice[], lengthBytes: number, iova: bigint | null, prot: Prot): bigint {
        try {
          return original.call(this, slices, lengthBytes, iova, prot) as bigint;
        } catch (e) {
          if (!(e instanceof UapiError) || !PIN_ERRNOS.has(e.errno) || this.domains.length === 0) throw e;
          // BUG: the error path forgets to remove the area it had already inserted. Modelled by
          // inserting it as the kernel would have before the fill: with no domain to fill.
          const domains = this.domains as PagingDomain[];
          const hidden = domains.splice(0);
          const before = new Set(this.areas);
          try {
            original.call(this, slices, lengthBytes, iova, prot);
          } finally {
            domains.push(...hidden);
          }
          for (const a of this.areas) if (!before.has(a)) ghosts.add(a);
          throw e;
        }
      });
      // The ghost was never mapped in a domain: tearing it down must not unmap it there.
      p.method(IoPagetable.prototype, 'unmapAreaFrom', (original) => function (this: IoPagetable, area: Area, domain: PagingDomain): void {
        if (!ghosts.has(area)) original.call(this, area, domain);
      });
    });
  },
};
