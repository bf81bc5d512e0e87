/**
 * The one interface behind which a vIOMMU's guest translation reaches the host, in the three
 * ways the 2021 RFC names: native nesting (the host walks the guest's own table), software
 * nesting (the VMM keeps a host-format copy the host walks, synchronised by nested bind and
 * invalidate) and emulation (the VMM maps every guest translation into an IOAS).
 *
 * Inputs are what the guest does, in its vIOMMU's own terms: its raw context (vSTE words, or
 * the PASID entry fields) and its raw invalidation commands (CMDQ commands, or PASID-based
 * IOTLB descriptors); a trapped store to a guest table frame for strategies that watch them.
 */

import type { GuestTableConfig, VtdPasidContext } from './guest-context.ts';
import type { CmdqCommand, VtdPiotlb } from './guest-invalidation.ts';

export type StrategyName = 'native' | 'swnest' | 'emulation';

export type RawContext = { kind: 'arm'; ste0: bigint; ste1: bigint } | { kind: 'vtd'; ctx: VtdPasidContext | null };

export type RawInvalidation = { kind: 'cmdq'; cmds: CmdqCommand[] } | { kind: 'vtd'; descs: VtdPiotlb[] };

export interface StrategyCounters {
  pagesPinned: number;
  pagesUnpinned: number;
  /** Descriptors the VMM wrote into tables the host walks (the shadow); emulation's IOPTEs are the kernel's. */
  shadowPtesWritten: number;
  invalidateCalls: number;
  /** Host IOTLB invalidations: entries the VMM sends (HWPT_INVALIDATE), or that the kernel's UNMAPs make. */
  invalidateEntries: number;
  traps: number;
  guestBytesRead: number;
  refusals: string[];
}

export interface Strategy {
  readonly name: StrategyName;
  /** The guest (re)programmed its context; `cfg` is its decoded form (null for native, which passes raw). */
  setContext(raw: RawContext, cfg: GuestTableConfig | null): Promise<void>;
  invalidate(raw: RawInvalidation): Promise<void>;
  /** A guest table frame is write-protected: the guest's stores to it trap into the VMM. */
  watches(gpa: number): boolean;
  tableWritten(gpa: number, lengthBytes: number): Promise<void>;
  counters(): StrategyCounters;
  /** The HWPT the device is attached to now (for dumps), or null when detached. */
  attachedHwpt(): number | null;
}

export class RefusedError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'RefusedError';
  }
}
