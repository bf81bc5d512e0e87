/**
 * Pinned-page accounting (pages.c do_update_pinned / incr_user_locked_vm / account_locked_vm):
 * the counters a process (its mm) and its user carry, and the modes an iopt_pages charges in.
 * NONE (creator had CAP_IPC_LOCK): no limit, no locked_vm; USER (default): the user's locked_vm
 * against RLIMIT_MEMLOCK; MM (RLIMIT_MODE 1 or /dev/vfio/vfio): the process's locked_vm against
 * the same limit. In every mode the process's pinned_vm (VmPin) follows the pinned count.
 *
 * One `Accounting` per process: its mm counters and its RLIMIT_MEMLOCK, plus the `UserAccount`
 * it shares with every process of the same user (a forked child keeps its parent's user).
 *
 * Invariant: `charge` either succeeds completely or changes nothing.
 */

import { UapiError } from './errors.ts';

export type AccountMode = 'none' | 'user' | 'mm';

/** Kernel default RLIMIT_MEMLOCK (8 MiB) in 4 KiB pages. */
export const DEFAULT_MEMLOCK_PAGES = 2048;

/** user_struct->locked_vm: shared by every process of one user. */
export class UserAccount {
  lockedPages = 0;
}

export class Accounting {
  /** mm->locked_vm (VmLck) */
  mmLockedPages = 0;
  /** mm->pinned_vm (VmPin) */
  mmPinnedPages = 0;
  /**
   * Pages charged to this mm (MM mode: locked_vm and pinned_vm) that no store will ever uncharge:
   * what an IOAS_CHANGE_PROCESS that failed to uncharge a dead owner left behind (ACCT-PROC-5).
   * Not a kernel counter: it lets the invariant checker account for Linux's own drift.
   */
  unbackedPages = 0;
  /** This process's RLIMIT_MEMLOCK; inherited by a forked child. */
  memlockLimitPages = DEFAULT_MEMLOCK_PAGES;

  constructor(readonly user: UserAccount = new UserAccount()) {}

  get userLockedPages(): number {
    return this.user.lockedPages;
  }

  /** Charges `pages` newly pinned pages; ENOMEM over RLIMIT_MEMLOCK in USER and MM modes. */
  charge(mode: AccountMode, pages: number): void {
    if (pages === 0) return;
    if (mode === 'user') {
      if (this.user.lockedPages + pages > this.memlockLimitPages) throw new UapiError('ENOMEM', 'RLIMIT_MEMLOCK (user)');
      this.user.lockedPages += pages;
    } else if (mode === 'mm') {
      if (this.mmLockedPages + pages > this.memlockLimitPages) throw new UapiError('ENOMEM', 'RLIMIT_MEMLOCK (mm)');
      this.mmLockedPages += pages;
    }
    this.mmPinnedPages += pages;
  }

  uncharge(mode: AccountMode, pages: number): void {
    if (mode === 'user') this.user.lockedPages -= pages;
    else if (mode === 'mm') this.mmLockedPages -= pages;
    this.mmPinnedPages -= pages;
    if (this.user.lockedPages < 0 || this.mmLockedPages < 0 || this.mmPinnedPages < 0) throw new Error('accounting went negative');
  }

  /** The child's accounting after fork(2): same user and limit, an mm that has pinned nothing. */
  forkChild(): Accounting {
    const child = new Accounting(this.user);
    child.memlockLimitPages = this.memlockLimitPages;
    return child;
  }
}
