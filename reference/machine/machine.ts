/**
 * The simulated machine a `world` call builds: physical memory, the topology (bridges, IOMMU
 * units, devices), the user processes (the initial one and those forked from it) and the
 * memfd-like files. All processes run as one user with the topology's capabilities and share
 * one file-descriptor table (every fd a child uses is one its parent holds too, as after fork).
 *
 * `current` is the process making the call in progress (the kernel's `current`): the adapter
 * sets it around each call and puts the initial process back afterwards; `memory` and
 * `accounting` are the current process's.
 *
 * Invariant: everything the reference simulates hangs off one Machine, so a new `world`
 * discards all state at once; `current` is never an exited process.
 */

import { Accounting } from '../iommufd/accounting.ts';
import { FailNth } from '../iommufd/fail-nth.ts';
import { PhysicalMemory } from './physical-memory.ts';
import { Process } from './process.ts';
import { MemoryObject, ProcessMemory } from './process-memory.ts';
import type { Topology } from './topology.ts';
import { buildTopology } from './topology.ts';

/** The initial process's pid; children get the next free numbers. */
export const INITIAL_PID = 100;

export class Machine {
  readonly phys: PhysicalMemory;
  readonly failNth = new FailNth();
  readonly topology: Topology;
  /** Every process ever started in this world, exited ones included (their counters stay readable in STATE). */
  readonly processes = new Map<number, Process>();
  readonly initial: Process;
  current: Process;
  private nextPid = INITIAL_PID + 1;
  /** Open file descriptors that are memfd-like files. */
  readonly files = new Map<number, MemoryObject>();

  constructor(topologyJson: unknown) {
    this.topology = buildTopology(topologyJson);
    this.phys = new PhysicalMemory(undefined, this.topology.memoryBytes);
    this.initial = new Process(INITIAL_PID, new ProcessMemory(this.phys), new Accounting());
    this.processes.set(INITIAL_PID, this.initial);
    this.current = this.initial;
  }

  /** The calling process's address space. */
  get memory(): ProcessMemory {
    return this.current.memory;
  }

  /** The calling process's pinned-page counters (and, through them, its user's). */
  get accounting(): Accounting {
    return this.current.accounting;
  }

  capable(cap: string): boolean {
    return this.topology.caps.has(cap);
  }

  /** A live process by pid, or undefined. */
  liveProcess(pid: number): Process | undefined {
    const p = this.processes.get(pid);
    return p === undefined || p.exited ? undefined : p;
  }

  /** fork(2) by `parent`. */
  fork(parent: Process): Process {
    const child = parent.fork(this.nextPid++);
    this.processes.set(child.pid, child);
    return child;
  }

  /** memfd_create (MFD_HUGETLB when `huge`) + ftruncate. */
  createFile(fd: number, sizeBytes: number, huge = false): MemoryObject {
    const f = new MemoryObject('file', sizeBytes, huge);
    this.files.set(fd, f);
    return f;
  }

  /** ftruncate(2): shrinking drops the pages past the end (pinned ones live on until unpinned). */
  truncateFile(file: MemoryObject, sizeBytes: number): void {
    const oldPages = file.sizePages;
    file.sizeBytes = sizeBytes;
    if (file.sizePages < oldPages) this.memory.dropObjectPages(file, file.sizePages, oldPages - file.sizePages);
  }
}
