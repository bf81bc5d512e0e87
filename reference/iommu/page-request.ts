/**
 * Recoverable I/O page faults as each IOMMU driver reports them to the core
 * (iommu_report_device_fault), as pure functions of the faulting request: the PCIe Page
 * Request of a PRI device on VT-d (intel_prq_report after the checks of prq_event_thread), the
 * stalled transaction of an SMMUv3 master (arm_smmu_handle_event), and the selftest mock's
 * request. What reaches user space is this record as it is: iommufd copies flags, pasid,
 * grpid, perm and addr into struct iommu_hwpt_pgfault (eventq.c).
 *
 * Invariants: a function here returns null when the hardware raises no page request (the
 * device cannot wait, or the unit does not stall it), `{ rejected: true }` when the driver
 * answers the request itself and reports nothing, and otherwise the record; it never changes
 * state. A group index the hardware cannot carry throws a RangeError (the caller's mistake).
 */

import {
  IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE,
  IOMMU_FAULT_PAGE_REQUEST_PASID_VALID,
  IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID,
  IOMMU_FAULT_PERM_PRIV,
  IOMMU_FAULT_PERM_READ,
  IOMMU_FAULT_PERM_WRITE,
  type FaultingRequest,
  type PageRequestReport,
} from './unit.ts';

/** A Page Request Message names a 4 KiB page (address bits 63:12). */
const PRI_PAGE_BYTES = 4096n;
/** The PCIe Page Request Group Index is 9 bits. */
export const PRG_INDEX_MAX = 0x1ff;
/** SMMUv3 STAG (event record word 1 [15:0]) is 16 bits. */
export const STAG_MAX = 0xffff;

/**
 * __VIRTUAL_MASK_SHIFT of an x86-64 host with 4-level paging: prq_event_thread rejects a page
 * address that is not canonical for the CPU's virtual address width (is_canonical_address).
 */
const X86_VIRTUAL_MASK_SHIFT = 47n;

function checkGroup(grpid: number, max: number, what: string): void {
  if (!Number.isInteger(grpid) || grpid < 0 || grpid > max) throw new RangeError(`grpid ${grpid}: the ${what} is 0..${max}`);
}

const rwPerm = (write: boolean): number => (write ? IOMMU_FAULT_PERM_WRITE : IOMMU_FAULT_PERM_READ);
const pageOf = (addrBytes: bigint): bigint => addrBytes - (addrBytes % PRI_PAGE_BYTES);

function isCanonical(addrBytes: bigint): boolean {
  const top = addrBytes >> X86_VIRTUAL_MASK_SHIFT;
  return top === 0n || top === (1n << (64n - X86_VIRTUAL_MASK_SHIFT)) - 1n;
}

/**
 * VT-d: a PRI device that may wait sends a Page Request (R or W, the PASID prefix with its PMR
 * bit, Last = 1, its PRG index) for the 4 KiB page; prq_event_thread answers INVALID itself for
 * a non-canonical page address and for a privileged read or write, and intel_prq_report turns
 * the rest into a record with LAST_PAGE when Last (LPIG) is set, and PASID_VALID | NEEDS_PASID
 * when the request had a PASID (iommufd passes NEEDS_PASID, bit 2, on to the VMM unchanged).
 */
export function vtdPageRequest(req: FaultingRequest, grpid: number, last = true): PageRequestReport | { rejected: true } {
  checkGroup(grpid, PRG_INDEX_MAX, 'PCIe Page Request Group Index');
  const addrBytes = pageOf(BigInt.asUintN(64, req.iova));
  if (!isCanonical(addrBytes)) return { rejected: true };
  if (req.privileged) return { rejected: true };
  let flags = last ? IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE : 0;
  if (req.hasPasid) flags |= IOMMU_FAULT_PAGE_REQUEST_PASID_VALID | IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID;
  return { flags, pasid: req.hasPasid ? req.pasid : 0, grpid, perm: rwPerm(req.write), addrBytes };
}

/**
 * SMMUv3: a stalled transaction's event (Stall = 1, STAG, SSV/SubstreamID, RnW, PnU, InD = 0 for
 * a data access, the input address) becomes, in arm_smmu_handle_event, a request with LAST_PAGE
 * (every stall is its own group), PASID_VALID and the SubstreamID when SSV, grpid = STAG, perm
 * READ for RnW = 1 else WRITE, PRIV for PnU, and the full input address (not page aligned).
 */
export function smmuStallRequest(req: FaultingRequest, stag: number): PageRequestReport {
  checkGroup(stag, STAG_MAX, 'SMMUv3 STAG');
  let flags = IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE;
  if (req.hasPasid) flags |= IOMMU_FAULT_PAGE_REQUEST_PASID_VALID;
  const perm = rwPerm(req.write) | (req.privileged ? IOMMU_FAULT_PERM_PRIV : 0);
  return { flags, pasid: req.hasPasid ? req.pasid : 0, grpid: stag, perm, addrBytes: BigInt.asUintN(64, req.iova) };
}

/**
 * The mock device, a PCIe-like requester: a request for the 4 KiB page, LAST_PAGE unless a later
 * request closes its group, PASID_VALID with a PASID.
 */
export function mockPageRequest(req: FaultingRequest, grpid: number, last = true): PageRequestReport {
  checkGroup(grpid, PRG_INDEX_MAX, 'PCIe Page Request Group Index');
  let flags = last ? IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE : 0;
  if (req.hasPasid) flags |= IOMMU_FAULT_PAGE_REQUEST_PASID_VALID;
  return { flags, pasid: req.hasPasid ? req.pasid : 0, grpid, perm: rwPerm(req.write), addrBytes: pageOf(BigInt.asUintN(64, req.iova)) };
}
