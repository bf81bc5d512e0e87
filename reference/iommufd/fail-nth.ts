/**
 * Fault injection for the FAIL_NTH test hook (the kernel's fail-nth sweep of
 * iommufd_fail_nth.c): armed with n, the n-th allocation point reached by the next ioctl fails
 * with ENOMEM. Allocation points sit where the kernel allocates (object, pages store, area,
 * interval-tree node, page pin batch, IOPTE mapping), always before that step commits, so that
 * every caller's rollback is exercised: a failing ioctl must leave STATE exactly as it was.
 */

import { UapiError } from './errors.ts';

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

  /** An allocation point. */
  point(what: string): void {
    if (this.n <= 0 || this.quietDepth > 0) return;
    this.count++;
    if (this.count === this.n) {
      this.reached = true;
      throw new UapiError('ENOMEM', `fail_nth ${this.n}: ${what}`);
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
