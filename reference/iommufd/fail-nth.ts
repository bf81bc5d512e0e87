/**
 * Fault injection for the FAIL_NTH test hook (the kernel's fail-nth sweep of
 * iommufd_fail_nth.c): armed with n, the n-th injection point reached by the next ioctl fails.
 * Every point sits before the step it stands for commits, so that every caller's rollback is
 * exercised: a failing ioctl must leave STATE exactly as it was.
 *
 * Two kinds of points, as in a CONFIG_IOMMUFD_TEST kernel, where one per-task fail-nth count
 * runs through both:
 * - allocation points (slab/page allocation fault injection): object, pages store, area,
 *   interval-tree node, pin batch, IOPTE mapping of a hardware model's domain — ENOMEM;
 * - iommufd's own `iommufd_should_fail()` sites (the `fail_iommufd` attribute), each with the
 *   errno its kernel site returns (checked in Linux 6.12 drivers/iommu/iommufd/):
 *   `iommufd_get_object` (main.c) ENOENT, before the object is looked up — in ObjectTable.get,
 *   so the first point of nearly every ioctl that takes an ID (not DESTROY, which removes by ID
 *   without it, nor the selftest's access ops, which find their access by fd);
 *   `temp_kmalloc` (pages.c) ENOMEM, the pin batch; `pfn_reader_user_pin` EFAULT, before the
 *   pages are pinned from the mm; `pages_to_xarray` EINVAL (an access pin storing the pages it
 *   pinned); `pfn_reader_user_update_pinned` ENOMEM, before new pins are charged;
 *   `iopt_pages_rw_page` EINVAL (the one-page rw of another mm); `iopt_table_enforce_dev_resv_regions`
 *   (io_pagetable.c) EINVAL, at attach; the selftest mock domain's `map_pages` (selftest.c) ENOENT.
 * The reference counts one point per site and call where the kernel may count several (a kmalloc
 * behind an iommufd_should_fail, one pin per 64 KiB page-pointer chunk); the order of kinds
 * within a call follows the kernel's, except that a domain fill charges its new pins
 * (update_pinned) before it maps them where the kernel maps first.
 */

import { UapiError } from './errors.ts';

/** What an injected failure answers: the errnos of Linux's injection points. */
export type InjectedErrno = 'ENOMEM' | 'ENOENT' | 'EINVAL' | 'EFAULT';

export class FailNth {
  private n = 0;
  private count = 0;
  private reached = false;

  /** FAIL_NTH {n}: arms the next ioctl; 0 disarms. */
  arm(n: number): void {
    this.n = n;
  }

  /** Called when an ioctl starts. */
  begin(): void {
    this.count = 0;
    this.reached = false;
  }

  private quietDepth = 0;

  /**
   * Runs `fn` with no allocation point counted: for work whose allocations a caller has
   * already reached up front, so that a later step cannot fail after an earlier one committed.
   */
  quiet<T>(fn: () => T): T {
    this.quietDepth++;
    try {
      return fn();
    } finally {
      this.quietDepth--;
    }
  }

  /**
   * An injection point: an allocation (ENOMEM) or one of iommufd's own iommufd_should_fail()
   * sites with the errno that site returns.
   */
  point(what: string, errno: InjectedErrno = 'ENOMEM'): void {
    if (this.n <= 0 || this.quietDepth > 0) return;
    this.count++;
    if (this.count === this.n) {
      this.reached = true;
      throw new UapiError(errno, `fail_nth ${this.n}: ${what}`);
    }
  }

  /**
   * How many allocation points the last armed call passed without failing: all of them when it
   * did not reach n. The kernel's fail-nth counts across calls; a caller that keeps
   * n − passed for the next call sweeps the same way (the fake /dev/iommu does).
   */
  passed = 0;

  /** Called when the ioctl ends: whether point n was reached (undefined when not armed); disarms. */
  end(): boolean | undefined {
    this.passed = this.reached ? this.n - 1 : this.count;
    if (this.n <= 0) return undefined;
    const r = this.reached;
    this.n = 0;
    return r;
  }
}
