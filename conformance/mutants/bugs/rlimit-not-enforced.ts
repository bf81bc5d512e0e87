/**
 * Pinned pages are counted in locked_vm but never compared with RLIMIT_MEMLOCK: a process
 * without CAP_IPC_LOCK can pin as much memory as it likes.
 */
import { Accounting, type AccountMode } from '../../../reference/iommufd/accounting.ts';
import type { Mutant } from '../mutant.ts';
import { Patches } from '../patch.ts';

export const rlimitNotEnforced: Mutant = {
  name: 'rlimit-not-enforced',
  models: 'pinning is charged but RLIMIT_MEMLOCK is never enforced (no ENOMEM)',
  violates: ['ACCT-LIMIT-2'],
  areas: ['accounting/*', 'options/rlimit/*'],
  install: () => Patches.install((p) => p.method(Accounting.prototype, 'charge', (original) => function (this: Accounting, mode: AccountMode, pages: number): void {
    const limit = this.memlockLimitPages;
    this.memlockLimitPages = Number.POSITIVE_INFINITY; // BUG: the limit is not looked at
    try {
      original.call(this, mode, pages);
    } finally {
      this.memlockLimitPages = limit;
    }
  })),
};
