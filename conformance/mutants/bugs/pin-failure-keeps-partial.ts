/**
 * Pinning goes page by page and a failure (RLIMIT_MEMLOCK reached, user memory gone) returns
 * the errno without unpinning what it already pinned: the failing MAP, COPY, attach or access
 * pin reports the right errno, but the pages before the failing one stay pinned and charged.
 */
import { UapiError } from '../../../reference/iommufd/errors.ts';
import { IoptPages } from '../../../reference/iommufd/pages.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const pinFailureKeepsPartial: Mutant = {
  name: 'pin-failure-keeps-partial',
  models: 'a pin that fails part-way leaves the pages before the failure pinned (no rollback)',
  violates: ['ACCT-LIMIT-2', 'ACCT-PIN-2', 'IOAS-MAP-9'],
  areas: ['accounting/*', 'ioas/map/*', 'ioas/copy/*', 'devices/*', 'access/pin/*'],
  install: () => Patches.install((p) => p.method(IoptPages.prototype, 'pin', (original) => function (this: IoptPages, first: number, count: number): void {
    try {
      original.call(this, first, count);
    } catch (e) {
      if (!(e instanceof UapiError)) throw e;
      // BUG: what a page-by-page loop had pinned before the failing page stays pinned. The
      // longest prefix that pins is found by bisection (the original pins all or nothing).
      let lo = 0;
      let hi = count - 1;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        try {
          original.call(this, first, mid);
          this.unpin(first, mid);
          lo = mid;
        } catch {
          hi = mid - 1;
        }
      }
      if (lo > 0) original.call(this, first, lo);
      throw e;
    }
  })),
};
