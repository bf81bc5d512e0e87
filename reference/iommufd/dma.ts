/**
 * Device DMA as the test hooks drive it (DMA_READ / DMA_WRITE / TRANSLATE): a device's RID or
 * PASID reaches the domain it is attached to; a paging domain translates through its I/O page
 * table (the formats' walker), an IOVA outside the aperture faults as `aperture`, a missing
 * IOPTE as `not-present`, a write through a read-only IOPTE as `permission`, and a detached
 * device (blocking domain) as `blocked`.
 *
 * A nested HWPT translates in two stages (nested-walk.ts): the user-owned stage 1 in guest
 * memory over its NEST_PARENT's table as stage 2; its faults also say which stage faulted.
 * A nested domain whose model does not translate (the selftest mock) reports `blocked`.
 * A DMA that faults in a nested domain is handed to its driver (NestedDomain.reportFault),
 * which may report it as an event (SMMUv3: a recorded stage-1 fault to the ARM_SMMUV3 vEVENTQ),
 * unless it stalled (SMMUv3 CD.S): that one is a page request, the caller's to raise.
 *
 * Translations go through the unit's IOTLB (reference/iotlb): a hit is served from the cache,
 * a miss walks and fills. A hit the current tables no longer give is a stale use: the DMA is
 * still served from the entry, as the hardware would, and the answer says `stale`.
 */

import { FRAME_BYTES } from '../machine/physical-memory.ts';
import type { PhysicalMemory } from '../machine/physical-memory.ts';
import type { Translation } from './domain.ts';
import { IOMMU_NO_PASID } from './device.ts';
import { cachedNestedTranslate, cachedTranslate } from '../iotlb/unit-iotlb.ts';
import type { DeviceObject, HwptObject } from './objects.ts';
import type { Stage1FaultCause } from '../iommu/unit.ts';

export type DmaFault = 'not-present' | 'permission' | 'aperture' | 'blocked';

export type DmaResult = { fault: null; t: Translation; stale?: boolean } | { fault: DmaFault; stage?: 1 | 2; cause?: Stage1FaultCause; stall?: boolean; stale?: boolean };

/** Request attributes beyond the address: a privileged (supervisor) request needs a PASID. */
export interface DmaAttrs {
  privileged?: boolean;
}

/** The HWPT a request of `pasid` reaches. */
function hwptOf(dev: DeviceObject, pasid: number): HwptObject | null {
  const hwpt = pasid === IOMMU_NO_PASID ? dev.hwpt : (dev.pasids.get(pasid) ?? null);
  // A RID domain that holds every substream (SMMUv3 vSTE with a CD table) serves PASIDs too.
  if (hwpt === null && dev.hwpt?.kind === 'HWPT_NESTED' && dev.hwpt.nested.substreams === true) return dev.hwpt;
  return hwpt;
}

export function translate(phys: PhysicalMemory, dev: DeviceObject, pasid: number, iova: bigint, write: boolean, attrs: DmaAttrs = {}): DmaResult {
  const hwpt = hwptOf(dev, pasid);
  if (hwpt === null) return { fault: 'blocked' };
  if (hwpt.kind === 'HWPT_NESTED') {
    // A model whose nested domain translates nothing (the selftest mock) blocks, as before.
    if (hwpt.nested.stage1 === undefined) return { fault: 'blocked' };
    return cachedNestedTranslate(phys, dev.dev, pasid, hwpt.parent.domain, hwpt.nested, {
      iova,
      pasid,
      hasPasid: pasid !== IOMMU_NO_PASID,
      write,
      privileged: attrs.privileged === true,
    });
  }
  const { aperture } = hwpt.domain.spec;
  if (iova < aperture.start || iova > aperture.last) return { fault: 'aperture' };
  // The IOMMU updates A/D bits only while dirty tracking is on (AMD DTE.HAD, VT-d SSADE).
  return cachedTranslate(dev.dev, pasid, hwpt.domain, iova, write);
}

/**
 * A DMA of `length` bytes at `iova`, IOMMU page by page; the first fault stops it before any
 * byte moves, and the answer says where (`faultIova`, for the page request it may raise).
 */
export function dma(
  phys: PhysicalMemory,
  dev: DeviceObject,
  pasid: number,
  iova: bigint,
  length: number,
  data: Uint8Array | null,
  attrs: DmaAttrs = {},
): { fault: DmaFault | null; stage?: 1 | 2; data?: Uint8Array; stale?: boolean; faultIova?: bigint; stalled?: boolean } {
  const write = data !== null;
  const pieces: Array<{ phys: number; len: number; at: number }> = [];
  let done = 0;
  let stale = false;
  while (done < length) {
    const r = translate(phys, dev, pasid, iova + BigInt(done), write, attrs);
    if (r.stale) stale = true;
    if (r.fault !== null) {
      // The faulting transaction is reported as the driver reports it (an SMMUv3 event record);
      // a stalled one is a page request instead (arm_smmu_handle_event), the caller's to raise.
      const hwpt = hwptOf(dev, pasid);
      if (hwpt?.kind === 'HWPT_NESTED' && r.stage !== undefined && r.stall !== true) {
        const req = { iova: iova + BigInt(done), pasid, hasPasid: pasid !== IOMMU_NO_PASID, write, privileged: attrs.privileged === true };
        hwpt.nested.reportFault?.(dev.dev, req, { fault: r.fault, stage: r.stage, ...(r.cause !== undefined ? { cause: r.cause } : {}) });
      }
      const out: { fault: DmaFault; stage?: 1 | 2; stale?: boolean; faultIova: bigint; stalled?: boolean } = r.stage === undefined ? { fault: r.fault, faultIova: iova + BigInt(done) } : { fault: r.fault, stage: r.stage, faultIova: iova + BigInt(done) };
      if (stale) out.stale = true;
      if (r.stall === true) out.stalled = true;
      return out;
    }
    const inPage = Number((iova + BigInt(done)) % BigInt(r.t.pageSizeBytes));
    const len = Math.min(length - done, r.t.pageSizeBytes - inPage, FRAME_BYTES - (r.t.physBytes % FRAME_BYTES));
    pieces.push({ phys: r.t.physBytes, len, at: done });
    done += len;
  }
  if (write) {
    for (const p of pieces) phys.writeBytes(p.phys, data.subarray(p.at, p.at + p.len));
    return stale ? { fault: null, stale } : { fault: null };
  }
  const out = new Uint8Array(length);
  for (const p of pieces) out.set(phys.readBytes(p.phys, p.len), p.at);
  return stale ? { fault: null, data: out, stale } : { fault: null, data: out };
}
