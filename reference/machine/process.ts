/**
 * One simulated user process: its pid, its address space (ProcessMemory, the kernel's mm) and
 * its pinned-page counters with its RLIMIT_MEMLOCK (Accounting, shared user). Every process of
 * a machine runs as the same user with the same capabilities; the file-descriptor table is the
 * machine's (see Machine).
 *
 * fork gives a child a copy of the address space (shared file mappings, copied anonymous
 * content), the same user and limit, and an mm that has pinned nothing. exit tears the address
 * space down: pinned frames outlive it (PinTable keeps them as orphans), and a later pin from a
 * mapping of that mm fails, as GUP on a dead mm does (pages.c pfn_reader_user_pin: EFAULT).
 *
 * Invariant: an exited process has no mapping and never runs a call again.
 */

import type { Accounting } from '../iommufd/accounting.ts';
import { USER_VA_END } from './process-memory.ts';
import type { ProcessMemory } from './process-memory.ts';

export class Process {
  exited = false;

  constructor(
    readonly pid: number,
    readonly memory: ProcessMemory,
    readonly accounting: Accounting,
  ) {}

  fork(childPid: number): Process {
    return new Process(childPid, this.memory.fork(), this.accounting.forkChild());
  }

  /** exit(2): the address space goes (pinned frames live on until unpinned). */
  exit(): void {
    if (this.memory.munmap(0, USER_VA_END) !== null) throw new Error('exit: tearing down the address space failed');
    this.memory.live = false;
    this.exited = true;
  }
}
