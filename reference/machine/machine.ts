/**
 * The simulated machine a `world` call builds: physical memory, the topology (bridges, IOMMU
 * units, devices), the one user process (its memory, capabilities, memfd-like files and the
 * pinned-page counters of the process and its user).
 *
 * Invariant: everything the reference simulates hangs off one Machine, so a new `world`
 * discards all state at once.
 */

import { Accounting } from '../iommufd/accounting.ts';
import { FailNth } from '../iommufd/fail-nth.ts';
import { PhysicalMemory } from './physical-memory.ts';
import { MemoryObject, ProcessMemory } from './process-memory.ts';
import type { Topology } from './topology.ts';
import { buildTopology } from './topology.ts';

export class Machine {
  readonly phys = new PhysicalMemory();
  readonly memory = new ProcessMemory(this.phys);
  readonly accounting = new Accounting();
  readonly failNth = new FailNth();
  readonly topology: Topology;
  /** Open file descriptors of the process that are memfd-like files. */
  readonly files = new Map<number, MemoryObject>();

  constructor(topologyJson: unknown) {
    this.topology = buildTopology(topologyJson);
  }

  capable(cap: string): boolean {
    return this.topology.caps.has(cap);
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
