/**
 * FAULT objects (drivers/iommu/iommufd/eventq.c, v6.11+; the file was fault.c before v6.15):
 * IOMMU_FAULT_QUEUE_ALLOC, the page-request groups an IOPF-capable HWPT queues, and the
 * read(2) / write(2) rules of the fault fd.
 *
 * A group (iopf_group) is one or more page requests of one device and PASID ending with a
 * LAST_PAGE request. It sits on `deliver` until a read hands it out whole (never split, as
 * v6.11+ does: a group that does not fit the rest of the buffer stays queued); the read gives it
 * a cookie (xarray ALLOC1, lowest free ≥ 1) and moves it to `response`, where a write of
 * {cookie, code} completes it. Detaching or replacing the HWPT a device faulted through
 * answers that device's groups with INVALID (iommufd_auto_response_faults), and so does
 * destroying the FAULT.
 *
 * Page requests come from the selftest's TRIGGER_IOPF or from a faulting DMA, as the unit's
 * driver reports it (IommuUnit.pageRequest: the mock, a VT-d PRI device, an SMMUv3 stall). A
 * request without LAST_PAGE is held per device (io-pgfault.c's partial list) until the last
 * request of its grpid takes it into its group; the held ones go when the device's IOPF does.
 *
 * Invariant: a group is on exactly one of `deliver` and `response`; its `users` count holds
 * one reference for the open fd and one per HWPT that reports into it.
 */

import type { IommufdContext } from './context.ts';
import { check, fail } from './errors.ts';
import type { Args, Out } from './hwpt.ts';
import type { DeviceObject, HwptObject } from './objects.ts';
import { IommufdObject } from './objects.ts';
import type { FaultingRequest } from '../iommu/unit.ts';

/** sizeof(struct iommu_hwpt_pgfault). */
export const PGFAULT_BYTES = 40;
/** sizeof(struct iommu_hwpt_page_response). */
export const PAGE_RESPONSE_BYTES = 8;
export const IOMMU_PGFAULT_FLAGS_PASID_VALID = 1 << 0;
export const IOMMU_PGFAULT_FLAGS_LAST_PAGE = 1 << 1;
export const IOMMUFD_PAGE_RESP_SUCCESS = 0;
export const IOMMUFD_PAGE_RESP_INVALID = 1;
const U32_MAX = 0xffffffff;

/** One page request as the IOMMU reported it (struct iommu_fault_page_request). */
export interface PageRequest {
  flags: number;
  pasid: number;
  grpid: number;
  perm: number;
  addrBytes: bigint;
}

export interface FaultGroup {
  readonly dev: DeviceObject;
  /** The PASID the device was attached at (IOMMU_NO_PASID for the RID): the attach handle. */
  readonly attachPasid: number;
  readonly hwpt: HwptObject;
  readonly requests: PageRequest[];
  cookie: number;
  /** How the group was answered, for the device side (SUCCESS / INVALID), once it is. */
  response: number | null;
}

export class FaultObject extends IommufdObject {
  readonly kind = 'FAULT';
  readonly deliver: FaultGroup[] = [];
  readonly response = new Map<number, FaultGroup>();
  /** Groups answered so far (newest last), for the device side and STATE. */
  readonly answered: FaultGroup[] = [];

  constructor(readonly fd: number) {
    super();
  }

  /** iommufd_fault_iopf_handler: the group joins the tail of the deliver list. */
  queue(group: FaultGroup): void {
    this.deliver.push(group);
  }

  private complete(group: FaultGroup, code: number): void {
    group.response = code;
    this.answered.push(group);
  }

  private allocCookie(): number {
    for (let c = 1; c <= U32_MAX; c++) if (!this.response.has(c)) return c;
    return fail('EBUSY', 'cookie space full');
  }

  /**
   * iommufd_fault_fops_read: `count` must be a multiple of the record size (ESPIPE); whole
   * groups only; returns the records (possibly none).
   */
  read(countBytes: number): Uint8Array {
    check(countBytes % PGFAULT_BYTES === 0, 'ESPIPE', 'count is not a multiple of sizeof(struct iommu_hwpt_pgfault)');
    const out: Uint8Array[] = [];
    let done = 0;
    while (this.deliver.length > 0) {
      const group = this.deliver[0];
      if (done >= countBytes || group.requests.length * PGFAULT_BYTES > countBytes - done) break;
      this.deliver.shift();
      group.cookie = this.allocCookie();
      this.response.set(group.cookie, group);
      for (const r of group.requests) {
        out.push(encodePgfault(r, group.dev.id, group.cookie));
        done += PGFAULT_BYTES;
      }
    }
    const bytes = new Uint8Array(done);
    out.forEach((rec, i) => bytes.set(rec, i * PGFAULT_BYTES));
    return bytes;
  }

  /**
   * iommufd_fault_fops_write: `count` a multiple of 8 (ESPIPE); responses in order; a code
   * other than SUCCESS/INVALID or an unknown cookie stops the write with EINVAL, unless some
   * responses were consumed before it (then their byte count is returned).
   */
  write(data: Uint8Array): number {
    check(data.length % PAGE_RESPONSE_BYTES === 0, 'ESPIPE', 'count is not a multiple of sizeof(struct iommu_hwpt_page_response)');
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let done = 0;
    while (done < data.length) {
      const cookie = dv.getUint32(done, true);
      const code = dv.getUint32(done + 4, true);
      const group = code === IOMMUFD_PAGE_RESP_SUCCESS || code === IOMMUFD_PAGE_RESP_INVALID ? this.response.get(cookie) : undefined;
      if (group === undefined) {
        if (done === 0) fail('EINVAL', 'response code or cookie');
        break;
      }
      this.response.delete(cookie);
      this.complete(group, code);
      done += PAGE_RESPONSE_BYTES;
    }
    return done;
  }

  /** iommufd_auto_response_faults: the groups of one attach handle are answered INVALID. */
  autoRespond(hwpt: HwptObject, dev: DeviceObject, attachPasid: number): void {
    const mine = (g: FaultGroup) => g.hwpt === hwpt && g.dev === dev && g.attachPasid === attachPasid;
    for (let i = 0; i < this.deliver.length; ) {
      if (mine(this.deliver[i])) this.complete(this.deliver.splice(i, 1)[0], IOMMUFD_PAGE_RESP_INVALID);
      else i++;
    }
    for (const [cookie, g] of [...this.response]) {
      if (!mine(g)) continue;
      this.response.delete(cookie);
      this.complete(g, IOMMUFD_PAGE_RESP_INVALID);
    }
  }

  /** iommufd_fault_destroy: everything still pending is answered INVALID. */
  destroy(): void {
    for (const g of this.deliver.splice(0)) this.complete(g, IOMMUFD_PAGE_RESP_INVALID);
    for (const g of this.response.values()) this.complete(g, IOMMUFD_PAGE_RESP_INVALID);
    this.response.clear();
  }
}

/** struct iommu_hwpt_pgfault as read(2) returns it; `length` is always 0 (eventq.c). */
export function encodePgfault(r: PageRequest, devId: number, cookie: number): Uint8Array {
  const b = new Uint8Array(PGFAULT_BYTES);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, r.flags, true);
  dv.setUint32(4, devId, true);
  dv.setUint32(8, r.pasid, true);
  dv.setUint32(12, r.grpid, true);
  dv.setUint32(16, r.perm, true);
  dv.setUint32(20, 0, true); // __reserved
  dv.setBigUint64(24, BigInt.asUintN(64, r.addrBytes), true);
  dv.setUint32(32, 0, true); // length
  dv.setUint32(36, cookie, true);
  return b;
}

/** IOMMU_FAULT_QUEUE_ALLOC: flags → EOPNOTSUPP; the object and its fd (which holds it). */
export function faultAlloc(ctx: IommufdContext, a: Args): Out {
  check(a.flags === 0n, 'EOPNOTSUPP', 'flags');
  ctx.machine.failNth.point('fault object');
  const fd = ctx.allocFd();
  const fault = new FaultObject(fd);
  fault.users++; // the fd's reference (iommufd_eventq_init)
  ctx.table.add(fault);
  ctx.eventFds.set(fd, fault);
  return { out_fault_id: fault.id, out_fault_fd: fd };
}

/**
 * Page request groups a device raised by DMA, by grpid: the newest of each, or 'partial' while
 * requests of the group wait for its last one.
 */
const deviceGroups = new WeakMap<DeviceObject, Map<number, FaultGroup | 'partial'>>();
/**
 * A device's requests that are not the last of their group (iopf_param->partial), in arrival
 * order: the last request with the same grpid — whatever its PASID — takes them into its group.
 */
const devicePartials = new WeakMap<DeviceObject, PageRequest[]>();

/**
 * find_fault_handler: the HWPT whose FAULT a request of `dev` with `pasid` goes to — the PASID's
 * own attachment, else (a driver with a user-managed PASID table: the mock, SMMUv3) the RID's
 * nested domain; for no PASID the RID's. Null when that HWPT has no FAULT: the core answers
 * the request itself and the VMM sees nothing.
 */
function faultTarget(dev: DeviceObject, pasid: number): { hwpt: HwptObject; attachPasid: number } | null {
  let hwpt: HwptObject | null = null;
  let attachPasid = 0;
  if (pasid !== 0) {
    hwpt = dev.pasids.get(pasid) ?? null;
    if (hwpt !== null) attachPasid = pasid;
    else if (dev.dev.unit.userPasidTable === true && dev.hwpt?.kind === 'HWPT_NESTED') hwpt = dev.hwpt;
  } else {
    hwpt = dev.hwpt;
  }
  return hwpt === null || hwpt.fault === null ? null : { hwpt, attachPasid };
}

function queueRequest(dev: DeviceObject, req: PageRequest): FaultGroup | null {
  const t = faultTarget(dev, req.pasid);
  if (t === null) return null;
  const group: FaultGroup = { dev, attachPasid: t.attachPasid, hwpt: t.hwpt, requests: [req], cookie: 0, response: null };
  t.hwpt.fault!.queue(group);
  return group;
}

const requestFlags = (pasid: number): number => IOMMU_PGFAULT_FLAGS_LAST_PAGE | (pasid !== 0 ? IOMMU_PGFAULT_FLAGS_PASID_VALID : 0);

/**
 * IOMMU_TEST_OP_TRIGGER_IOPF: the device reports one page request (iommu_report_device_fault):
 * a single-request group, LAST_PAGE, PASID_VALID when pasid ≠ 0.
 */
export function triggerIopf(dev: DeviceObject, req: { pasid: number; grpid: number; perm: number; addrBytes: bigint }): void {
  queueRequest(dev, { flags: requestFlags(req.pasid), pasid: req.pasid, grpid: req.grpid, perm: req.perm, addrBytes: req.addrBytes });
}

/**
 * A DMA of `dev` stopped at a translation fault: the unit decides whether that raises a page
 * request (a PRI device that may wait, `iopf`; a stalled SMMU master) and what it says
 * (reference/iommu/page-request.ts); the core queues it on the FAULT of the HWPT it reaches.
 * Returns false when nothing was queued — no request, the driver answered it itself, or no
 * FAULT on the way (the core answers it): the DMA then fails as usual.
 */
export function raisePageRequest(dev: DeviceObject, req: FaultingRequest, how: { iopf: boolean; grpid: number; nested: boolean; last: boolean; stalled?: boolean; faultStage?: 1 | 2 }): boolean {
  const report = dev.dev.unit.pageRequest?.(dev.dev, req, how) ?? null;
  if (report === null || 'rejected' in report) return false;
  let groups = deviceGroups.get(dev);
  if (groups === undefined) deviceGroups.set(dev, (groups = new Map()));
  let partials = devicePartials.get(dev);
  if (partials === undefined) devicePartials.set(dev, (partials = []));
  // iommu_report_device_fault finds the handler first: without one the request is refused.
  const t = faultTarget(dev, report.pasid);
  const sameGroup = (r: PageRequest) => r.grpid === report.grpid;
  // Refused (err_bad_iopf: the core answers it INVALID): requests held for its group stay held
  // (v6.11+; the cleanup_partial of older kernels is gone) and join the next last one.
  if (t === null) return false;
  if ((report.flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE) === 0) {
    // report_partial_fault: held until the last request of the group comes.
    partials.push(report);
    groups.set(report.grpid, 'partial');
    return true;
  }
  const requests = [...partials.filter(sameGroup), report];
  devicePartials.set(dev, partials.filter((r) => !sameGroup(r)));
  const group: FaultGroup = { dev, attachPasid: t.attachPasid, hwpt: t.hwpt, requests, cookie: 0, response: null };
  t.hwpt.fault!.queue(group);
  groups.set(report.grpid, group);
  return true;
}

function dropPartials(dev: DeviceObject, which: (r: PageRequest) => boolean): void {
  const partials = devicePartials.get(dev) ?? [];
  const groups = deviceGroups.get(dev);
  for (const r of partials) if (which(r) && groups?.get(r.grpid) === 'partial') groups.delete(r.grpid);
  devicePartials.set(dev, partials.filter((r) => !which(r)));
}

/**
 * The device's IOPF is disabled (its last attachment to a HWPT with a FAULT went:
 * iopf_queue_remove_device): the requests held for unfinished groups are freed; no response
 * will come for them.
 */
export function iopfDisabled(dev: DeviceObject): void {
  dropPartials(dev, () => true);
}

/** What became of the device's page request group (IOPF_STATUS). */
export function pageRequestStatus(dev: DeviceObject, grpid: number): 'none' | 'pending' | 'success' | 'invalid' {
  const g = deviceGroups.get(dev)?.get(grpid);
  if (g === undefined) return 'none';
  if (g === 'partial') return 'pending';
  if (g.response === null) return 'pending';
  return g.response === IOMMUFD_PAGE_RESP_SUCCESS ? 'success' : 'invalid';
}
