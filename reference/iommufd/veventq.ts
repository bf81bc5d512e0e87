/**
 * vEVENTQ objects (drivers/iommu/iommufd/eventq.c and driver.c iommufd_viommu_report_event,
 * v6.15+): IOMMU_VEVENTQ_ALLOC, the events a vIOMMU driver reports, and read(2) of the
 * queue's fd as a stream of struct iommufd_vevent_header {flags, sequence} each followed by
 * its payload.
 *
 * Each report takes the next sequence number (0..INT_MAX, then 0). While `depth` events are
 * queued a report queues no payload: the single LOST_EVENTS header moves to the tail with the
 * new sequence number. Any report first takes a LOST_EVENTS header off the tail (the kernel's
 * list_is_last test), so a gap in the sequence is what tells the reader events were lost.
 * Reads hand out whole records; a record that does not fit the rest of the buffer stays.
 *
 * Invariant: the LOST_EVENTS header is queued at most once and only at the tail; `numEvents`
 * counts the queued records with a payload.
 */

import type { IommufdContext } from './context.ts';
import { check } from './errors.ts';
import type { Args, Out } from './hwpt.ts';
import { INT_MAX, IommufdObject } from './objects.ts';
import type { ViommuObject } from './viommu.ts';

export const IOMMU_VEVENTQ_TYPE_DEFAULT = 0;
export const IOMMU_VEVENTQ_FLAG_LOST_EVENTS = 1 << 0;
/** sizeof(struct iommufd_vevent_header). */
export const VEVENT_HEADER_BYTES = 8;

interface Vevent {
  lost: boolean;
  sequence: number;
  data: Uint8Array;
}

export class VeventqObject extends IommufdObject {
  readonly kind = 'VEVENTQ';
  readonly deliver: Vevent[] = [];
  numEvents = 0;
  sequence = 0;

  constructor(
    readonly viommu: ViommuObject,
    readonly type: number,
    readonly depth: number,
    readonly fd: number,
  ) {
    super();
  }

  /** iommufd_viommu_report_event after the queue lookup. */
  report(data: Uint8Array): void {
    const tail = this.deliver.at(-1);
    if (tail?.lost) this.deliver.pop();
    const ev: Vevent = this.numEvents === this.depth ? { lost: true, sequence: 0, data: new Uint8Array(0) } : { lost: false, sequence: 0, data: data.slice() };
    if (!ev.lost) this.numEvents++;
    ev.sequence = this.sequence;
    this.sequence = (this.sequence + 1) & INT_MAX;
    this.deliver.push(ev);
  }

  /** iommufd_veventq_fops_read (v6.15+): whole records that fit `countBytes`. */
  read(countBytes: number): Uint8Array {
    const parts: Uint8Array[] = [];
    let done = 0;
    while (this.deliver.length > 0) {
      const ev = this.deliver[0];
      if (done >= countBytes || VEVENT_HEADER_BYTES > countBytes - done) break;
      if (!ev.lost && VEVENT_HEADER_BYTES + ev.data.length > countBytes - done) break;
      this.deliver.shift();
      const hdr = new Uint8Array(VEVENT_HEADER_BYTES);
      const dv = new DataView(hdr.buffer);
      dv.setUint32(0, ev.lost ? IOMMU_VEVENTQ_FLAG_LOST_EVENTS : 0, true);
      dv.setUint32(4, ev.sequence, true);
      parts.push(hdr, ev.data);
      done += VEVENT_HEADER_BYTES + ev.data.length;
      if (!ev.lost) this.numEvents--;
    }
    const out = new Uint8Array(done);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/** IOMMU_VEVENTQ_ALLOC (iommufd_veventq_alloc), checks in the kernel's order. */
export function veventqAlloc(ctx: IommufdContext, a: Args): Out {
  check(a.flags === 0n && a.__reserved === 0n && a.type !== BigInt(IOMMU_VEVENTQ_TYPE_DEFAULT), 'EOPNOTSUPP', 'flags, __reserved or type DEFAULT');
  check(a.veventq_depth !== 0n, 'EINVAL', 'veventq_depth 0');
  const viommu = ctx.table.get(Number(a.viommu_id), 'VIOMMU') as ViommuObject;
  const type = Number(a.type);
  check(!viommu.veventqs.some((q) => q.type === type), 'EEXIST', 'a vEVENTQ of this type exists on the vIOMMU');
  ctx.machine.failNth.point('veventq object');
  const fd = ctx.allocFd();
  const q = new VeventqObject(viommu, type, Number(a.veventq_depth), fd);
  q.users++; // the fd's reference
  viommu.users++;
  viommu.veventqs.push(q);
  ctx.table.add(q);
  ctx.eventFds.set(fd, q);
  return { out_veventq_id: q.id, out_veventq_fd: fd };
}

/** iommufd_veventq_destroy: queued events go, the vIOMMU is let go. */
export function destroyVeventq(ctx: IommufdContext, q: VeventqObject): void {
  q.deliver.length = 0;
  q.viommu.veventqs.splice(q.viommu.veventqs.indexOf(q), 1);
  q.viommu.users--;
  ctx.table.remove(q);
}

/**
 * iommufd_viommu_report_event: EOPNOTSUPP when the vIOMMU has no queue of `type` (the event
 * is dropped), else queued (or counted lost).
 */
export function reportVevent(viommu: ViommuObject, type: number, data: Uint8Array): string | null {
  const q = viommu.veventqs.find((x) => x.type === type);
  if (q === undefined) return 'EOPNOTSUPP';
  q.report(data);
  return null;
}
