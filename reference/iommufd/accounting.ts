/**
 * Pinned-page accounting (pages.c do_update_pinned / incr_user_locked_vm / account_locked_vm):
 * the counters a process and its user carry, and the modes an iopt_pages charges in.
 * NONE (creator had CAP_IPC_LOCK): no limit, no locked_vm; USER (default): the user's locked_vm
 * against RLIMIT_MEMLOCK; MM (RLIMIT_MODE 1 or /dev/vfio/vfio): the process's locked_vm against
 * the same limit. In every mode the process's pinned_vm (VmPin) follows the pinned count.
 *
 * Invariant: `charge` either succeeds completely or changes nothing.
 */

import { UapiError } from './errors.ts';

export type AccountMode = 'none' | 'user' | 'mm';

/** Kernel default RLIMIT_MEMLOCK (8 MiB) in 4 KiB pages. */
export const DEFAULT_MEMLOCK_PAGES = 2048;

export class Accounting {
  userLockedPages = 0;
  mmLockedPages = 0;
  mmPinnedPages = 0;
  memlockLimitPages = DEFAULT_MEMLOCK_PAGES;

  /** Charges `pages` newly pinned pages; ENOMEM over RLIMIT_MEMLOCK in USER and MM modes. */
  charge(mode: AccountMode, pages: number): void {
    if (pages === 0) return;
    if (mode === 'user') {
      if (this.userLockedPages + pages > this.memlockLimitPages) throw new UapiError('ENOMEM', 'RLIMIT_MEMLOCK (user)');
      this.userLockedPages += pages;
    } else if (mode === 'mm') {
      if (this.mmLockedPages + pages > this.memlockLimitPages) throw new UapiError('ENOMEM', 'RLIMIT_MEMLOCK (mm)');
      this.mmLockedPages += pages;
    }
    this.mmPinnedPages += pages;
  }

  uncharge(mode: AccountMode, pages: number): void {
    if (mode === 'user') this.userLockedPages -= pages;
    else if (mode === 'mm') this.mmLockedPages -= pages;
    this.mmPinnedPages -= pages;
    if (this.userLockedPages < 0 || this.mmLockedPages < 0 || this.mmPinnedPages < 0) throw new Error('accounting went negative');
  }
}
